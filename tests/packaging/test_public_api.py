"""The public API of ``pyfaas``: what ``__all__`` lists, importable lazily, usable by a ``functions.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pyfaas
from pyfaas.core.definitions import collect_functions

REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {"function", "FunctionDefinition", "FunctionDeployment", "FunctionResources", "DefinitionError"}


def _fresh(code: str) -> str:
    """stdout of ``code`` in a new interpreter (this process has imported everything already)."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60, cwd=REPO_ROOT
    )
    return result.stdout.strip()


def test_all_lists_the_public_names_and_each_resolves() -> None:
    assert set(pyfaas.__all__) == {*PUBLIC, "__version__"}
    namespace: dict[str, object] = {}
    exec("from pyfaas import *", namespace)
    assert {*PUBLIC, "__version__"} <= namespace.keys()
    assert all(getattr(pyfaas, name) is namespace[name] for name in pyfaas.__all__)


def test_importing_pyfaas_imports_no_definition_library_until_a_name_is_used() -> None:
    watched = ["pydantic", "pyfaas.core.models", "pyfaas.core.definitions"]
    report = f"; import sys; print([m for m in {watched!r} if m in sys.modules])"
    assert _fresh("import pyfaas" + report) == "[]"
    assert _fresh("from pyfaas import function" + report) == str(watched)


def test_a_functions_file_written_against_the_public_api_declares_functions() -> None:
    source = (
        "from pyfaas import FunctionDeployment, FunctionResources, function\n"
        "echo = function('echo', image='ghcr.io/acme/echo:1.0', handler='./echo', lang='python3-http',\n"
        "                limits=FunctionResources(memory='128Mi'))\n"
        "plain = FunctionDeployment(service='plain', image='ghcr.io/acme/plain:1.0')\n"
    )
    namespace: dict[str, object] = {}
    exec(compile(source, "functions.py", "exec"), namespace)
    found = collect_functions(namespace)
    assert [(d.deployment.service, d.handler) for d in found] == [("echo", "./echo"), ("plain", "")]
    assert found[0].deployment.limits is not None and found[0].deployment.limits.memory == "128Mi"


def test_a_bad_definition_raises_the_public_error() -> None:
    with pytest.raises(pyfaas.DefinitionError, match="function 'Bad'"):
        pyfaas.function("Bad", image="x")


def test_an_unknown_name_is_an_attribute_error_and_subpackages_still_import() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = pyfaas.no_such_name
    assert _fresh("from pyfaas import gateway; print(gateway.__name__)") == "pyfaas.gateway"


def test_version_is_a_release_string() -> None:
    assert pyfaas.__version__.count(".") >= 2 and pyfaas.__version__[0].isdigit()
