"""A team's store catalog as tests use it: made by ``pyfaas store init``, then given a two-file handler that
reads a secret (``greeter``), a handler in a local git repository (``shout``, at tag ``v1``), an
image-only entry (``scanner``) and a ``bash-streaming`` template function (``numbered``, built by local
mode like any template function)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.cli import cli_env, run_cli

__all__ = ["team_catalog"]

GREETER = """
import os
from pathlib import Path

from words import punctuate


def handle(event, context):
    greeting = (Path(os.environ["secret_mount_path"]) / "greeting").read_text().strip()
    return {"statusCode": 200, "body": punctuate(f"{greeting}, {event.body.decode().strip()}")}
"""
WORDS = 'def punctuate(text):\n    return text + "!"\n'
NUMBERED = """#!/usr/bin/env bash
set -euo pipefail
count=0
while IFS= read -r line || [ -n "$line" ]; do
  count=$((count + 1))
  printf '%d: %s\\n' "$count" "$line"
done
"""
SHOUT = "def handle(event, context):\n    return {'statusCode': 200, 'body': event.body.decode().upper()}\n"


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


def team_catalog(root: Path, tmp_path: Path) -> Path:
    """A catalog repository as a team keeps it, with a handler in a separate git repository."""
    env = cli_env(tmp_path / "home")
    assert run_cli(["store", "init", str(root), "--title", "Team functions"], env=env, cwd=tmp_path).code == 0
    greeter = root / "functions" / "greeter"
    greeter.mkdir(parents=True)
    (greeter / "handler.py").write_text(GREETER)
    (greeter / "words.py").write_text(WORDS)
    numbered = root / "functions" / "numbered"
    numbered.mkdir(parents=True)
    (numbered / "handler.sh").write_text(NUMBERED)
    repository = tmp_path / "shout-repo"
    (repository / "fns" / "shout").mkdir(parents=True)
    (repository / "fns" / "shout" / "handler.py").write_text(SHOUT)
    git("init", "-q", "-b", "main", cwd=repository)
    git("add", ".", cwd=repository)
    git("commit", "-q", "-m", "shout", cwd=repository)
    git("tag", "v1", cwd=repository)
    catalog = json.loads((root / "catalog.json").read_text())
    catalog["functions"] += [
        {
            "name": "greeter",
            "title": "Greeter",
            "description": "Greets with the team's greeting (a secret).",
            "template": "python3-http",
            "handler": "functions/greeter",
            "files": ["handler.py", "words.py"],
            "secrets": ["greeting"],
        },
        {
            "name": "shout",
            "title": "Shout",
            "description": "Upper-cases the body; its handler is in a git repository.",
            "template": "python3-http",
            "git": {"repo": repository.as_uri(), "ref": "v1", "path": "fns/shout"},
        },
        {
            "name": "numbered",
            "title": "Numbered",
            "description": "Numbers the lines of the body (a bash-streaming template function).",
            "template": "bash-streaming",
            "handler": "functions/numbered",
            "files": ["handler.sh"],
        },
        {
            "name": "scanner",
            "title": "Scanner",
            "description": "Image only.",
            "images": {"x86_64": "registry.example/team/scanner:2.1.0"},
        },
    ]
    (root / "catalog.json").write_text(json.dumps(catalog, indent=2))
    return root
