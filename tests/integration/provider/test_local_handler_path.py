"""A python-mode function's handler folder: each way it can be wrong gets its own message, naming the field.

Seen in a walkthrough: an absolute path that does not exist was answered "the path must be absolute".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.core.errors import ValidationFailed
from tests.support.providers import local_provider, python_function, write_handler

ECHO = "def handle(event, context):\n    return event.body\n"


async def test_each_wrong_handler_folder_says_what_is_wrong(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    a_file = tmp_path / "handler.py"
    a_file.write_text(ECHO)
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {
        missing: f"handler folder {missing} does not exist",
        Path("relative/echo"): "handler 'relative/echo' must be an absolute path",
        a_file: f"handler {a_file} is not a folder",
        empty: f"handler folder {empty} has no handler.py",
    }
    async with local_provider(tmp_path / "state") as provider:
        for handler, message in cases.items():
            with pytest.raises(ValidationFailed) as raised:
                await provider.deploy(python_function("echo", handler))
            assert (str(raised.value), raised.value.field) == (message, "envVars.handler")
        assert await provider.list_functions("openfaas-fn") == []
        await provider.deploy(python_function("echo", write_handler(tmp_path / "echo", ECHO)))
        assert [f.name for f in await provider.list_functions("openfaas-fn")] == ["echo"]
