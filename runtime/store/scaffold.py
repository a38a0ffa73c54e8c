"""``pyfaas store init``: a catalog repository a team keeps in git and publishes as static files.

The layout::

    catalog.json            the index (format pyfaas-catalog/v1): title and one entry per function
    functions/hello/        one folder per function: its handler, in its template's layout
        handler.py
    README.md               how to add a function, validate and publish

It passes ``pyfaas store validate`` as written.
"""

from __future__ import annotations

import json
from pathlib import Path

from pyfaas.core.errors import ValidationFailed
from pyfaas.store.catalog import PYFAAS_FORMAT
from pyfaas.store.sources import INDEX_NAME

__all__ = ["init_catalog"]

_HELLO = '''"""An example store function: answers with a greeting (python3-http handler contract)."""


def handle(event, context):
    name = event.body.decode().strip() or "world"
    return {"statusCode": 200, "body": f"hello, {name}\\n", "headers": {"Content-Type": "text/plain"}}
'''

_README = """# {title}

An internal function store for pyfaas: `catalog.json` lists the functions, `functions/<name>/` holds each
one's handler.

- Add a function: a folder under `functions/`, then an entry in `catalog.json` (`name`, `title`,
  `description`, `template`, `handler`, `files`, and `secrets` it reads, `labels`, `images` pinned to a tag
  or digest for cluster deploys).
- Check it: `pyfaas store validate` (one line per problem, naming the file and field).
- Publish it: serve this folder with any static file server (or a git host's raw files), then point pyfaas
  at it: `PYFAAS_STORE_SOURCES="team=https://host/path/catalog.json,pyfaas"` for the CLI, the gateway's
  `store_sources` for the portal, or `pyfaas store list --url https://host/path/catalog.json`.
"""


def init_catalog(folder: Path, *, title: str) -> list[Path]:
    """Write a new catalog repository into ``folder`` (created; must not hold a catalog yet)."""
    index = folder / INDEX_NAME
    if index.exists():
        raise ValidationFailed(f"{index} already exists", field="folder")
    hello = folder / "functions" / "hello"
    hello.mkdir(parents=True, exist_ok=True)
    (hello / "handler.py").write_text(_HELLO)
    catalog = {
        "format": PYFAAS_FORMAT,
        "title": title,
        "functions": [
            {
                "name": "hello",
                "title": "Hello",
                "description": "Answers with a greeting: the example function of this catalog.",
                "template": "python3-http",
                "handler": "functions/hello",
                "files": ["handler.py"],
                "labels": {"com.openfaas.ui.ext": "txt"},
                "secrets": [],
                "repo_url": "",
            }
        ],
    }
    index.write_text(json.dumps(catalog, indent=2) + "\n")
    readme = folder / "README.md"
    written = [index, hello / "handler.py"]
    if not readme.exists():
        readme.write_text(_README.format(title=title))
        written.append(readme)
    return written
