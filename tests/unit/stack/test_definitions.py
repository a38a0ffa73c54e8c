"""Functions defined in Python: the ``function()`` helper and the module-namespace collector."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from pyfaas.core.definitions import DefinitionError, FunctionDefinition, collect_functions, function
from pyfaas.core.models import FunctionDeployment, FunctionResources


def test_function_helper_builds_the_rest_model() -> None:
    definition = function(
        "echo",
        image="ghcr.io/acme/echo:1.0.0",
        handler="./echo",
        lang="Python3-HTTP",
        fprocess="python3 index.py",
        environment={"write_timeout": "10s", "replicas": 2, "debug": True},
        secrets=["api-key"],
        labels={"com.openfaas.scale.max": 10},
        annotations={"topic": "orders"},
        limits={"memory": "128Mi", "cpu": "100m"},
        requests=FunctionResources(memory="32Mi"),
        namespace="team-a",
        read_only_root_filesystem=True,
    )
    assert definition.name == "echo"
    assert definition.lang == "python3-http"
    assert definition.handler == "./echo"
    assert definition.deployment.wire() == {
        "service": "echo",
        "image": "ghcr.io/acme/echo:1.0.0",
        "namespace": "team-a",
        "envProcess": "python3 index.py",
        "envVars": {"write_timeout": "10s", "replicas": "2", "debug": "true"},
        "secrets": ["api-key"],
        "labels": {"com.openfaas.scale.max": "10"},
        "annotations": {"topic": "orders"},
        "limits": {"memory": "128Mi", "cpu": "100m"},
        "requests": {"memory": "32Mi"},
        "readOnlyRootFilesystem": True,
    }
    # The same object is the body of POST /system/functions.
    assert FunctionDeployment.model_validate(definition.deployment.wire()) == definition.deployment


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Echo", "image": "x"}, "function 'Echo': function name 'Echo' is invalid"),
        ({"name": "echo", "image": ""}, "function 'echo': image:"),
        ({"name": "echo", "image": "x", "namespace": "A"}, "namespace 'A' is invalid"),
        ({"name": "echo", "image": "x", "limits": {"memory": object()}}, None),
    ],
)
def test_function_helper_rejects_bad_values(kwargs: dict[str, object], message: str | None) -> None:
    name = kwargs.pop("name")
    if message is None:
        function(str(name), **kwargs)  # type: ignore[arg-type]  # str(object()) is a valid (if odd) quantity
        return
    with pytest.raises(DefinitionError, match=message):
        function(str(name), **kwargs)  # type: ignore[arg-type]


def test_collect_in_definition_order_with_lists_and_plain_models() -> None:
    a = function("a", image="x/a:1")
    b = FunctionDeployment(service="b", image="x/b:1")
    namespace = {
        "__name__": "functions",
        "a": a,
        "_private": function("hidden", image="x/h:1"),
        "helpers": [function("c", image="x/c:1"), function("d", image="x/d:1", namespace="team")],
        "b": b,
        "alias": a,
        "other": 42,
        "FunctionDeployment": FunctionDeployment,
    }
    found = collect_functions(namespace, origin="functions.py")
    assert [f.name for f in found] == ["a", "c", "d", "b"]
    assert [f.origin for f in found] == [
        "functions.py:a",
        "functions.py:helpers[0]",
        "functions.py:helpers[1]",
        "functions.py:b",
    ]
    assert all(isinstance(f, FunctionDefinition) for f in found)


def test_collect_rejects_two_functions_with_one_name() -> None:
    with pytest.raises(DefinitionError, match=r"functions\.py:second: function 'a' is already defined at"):
        collect_functions({"first": function("a", image="x:1"), "second": function("a", image="y:1")})


def test_same_name_in_two_namespaces_is_fine() -> None:
    found = collect_functions(
        {"x": function("a", image="x:1"), "y": function("a", image="y:1", namespace="n2")}
    )
    assert len(found) == 2


def test_collect_validates_plain_model_names() -> None:
    with pytest.raises(DefinitionError, match="function name 'Bad' is invalid"):
        collect_functions({"f": FunctionDeployment(service="Bad", image="x:1")})


def test_a_real_functions_file(tmp_path: Path) -> None:
    source = tmp_path / "functions.py"
    source.write_text(
        "from pyfaas.core.definitions import function\n"
        "echo = function('echo', image='ghcr.io/acme/echo:1', handler='./echo', lang='python3-http')\n"
        "ALL = [function(f'w{i}', image=f'ghcr.io/acme/w:{i}') for i in range(2)]\n"
    )
    found = collect_functions(runpy.run_path(str(source)), origin="functions.py")
    assert [f.name for f in found] == ["echo", "w0", "w1"]
