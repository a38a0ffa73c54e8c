"""A bad stack config stops the program before any resource exists, with one message naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyfaas.core.errors import ConfigError
from pyfaas.infra.config import DEFAULT_IMAGES, load_config
from tests.support.infra import render


@pytest.mark.parametrize(
    ("config", "key", "text"),
    [
        ({"pyfaas:gateway": '{"replicas": 0}'}, "pyfaas:gateway.replicas", "greater than or equal to 1"),
        ({"pyfaas:gateway": {"replics": 2}}, "pyfaas:gateway.replics", "unknown key"),
        ({"pyfaas:gatway": {"replicas": 2}}, "pyfaas:gatway", "unknown key"),
        ({"pyfaas:gateway": "three"}, "pyfaas:gateway", "valid dictionary"),
        ({"pyfaas:gateway": {"serviceType": "Ingress"}}, "pyfaas:gateway.serviceType", "'ClusterIP'"),
        ({"pyfaas:gateway": {"nodePort": 80}}, "pyfaas:gateway.nodePort", "30000"),
        ({"pyfaas:nats": {"replicas": 2}}, "pyfaas:nats.replicas", "1 or 3"),
        ({"pyfaas:image": "ghcr.io/pyfaas/pyfaas"}, "pyfaas:image", "no pinned tag"),
        (
            {"pyfaas:prometheus": {"image": "prom/prometheus:latest"}},
            "pyfaas:prometheus.image",
            "no pinned tag",
        ),
        ({"pyfaas:functionNamespace": "Functions"}, "pyfaas:functionNamespace", "not a valid namespace"),
        ({"pyfaas:extraFunctionNamespaces": ["ok", "no_way"]}, "pyfaas:extraFunctionNamespaces", "'no_way'"),
        ({"pyfaas:functionNamespace": "openfaas"}, "pyfaas:controlNamespace", "must differ"),
        ({"pyfaas:prometheus": {"enabled": False}}, "pyfaas:alertmanager.enabled", "needs Prometheus"),
        (
            {"pyfaas:queueWorker": {"maxInflight": -1}},
            "pyfaas:queueWorker.maxInflight",
            "greater than or equal",
        ),
        (
            {"pyfaas:functionDefaults": {"imagePullPolicy": "Sometimes"}},
            "pyfaas:functionDefaults.imagePullPolicy",
            "Always",
        ),
    ],
)
def test_bad_values_name_the_key(config: dict[str, Any], key: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.field == key
    assert str(info.value).startswith(f"stack config {key}: ")
    assert text in str(info.value)


def test_other_packages_keys_are_ignored_and_numbers_coerced() -> None:
    config = load_config(
        {"kubernetes:context": "kind", "pyfaas:adminUser": 7, "pyfaas:gateway": '{"replicas": "2"}'}
    )
    assert config.admin_user == "7" and config.gateway.replicas == 2


def test_unpinned_images_allowed_on_request() -> None:
    config = load_config(
        {
            "pyfaas:image": "pyfaas:dev-build",
            "pyfaas:nats": {"image": "nats"},
            "pyfaas:allowUnpinnedImages": "true",
        }
    )
    assert config.nats.image == "nats"
    assert load_config({}).images() == {
        "image": DEFAULT_IMAGES["platform"],
        "nats.image": DEFAULT_IMAGES["nats"],
        "prometheus.image": DEFAULT_IMAGES["prometheus"],
        "alertmanager.image": DEFAULT_IMAGES["alertmanager"],
    }


def test_the_program_stops_before_registering_anything() -> None:
    with pytest.raises(ConfigError, match=r"pyfaas:nats\.replicas"):
        render({"pyfaas:nats": {"replicas": 5}})


IMPORT = "from pyfaas.core.definitions import function\n"


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "config", "key", "text"),
    [
        ({}, {"pyfaas:functionsFile": "functions.py"}, "pyfaas:functionsFile", "cannot read"),
        ({}, {"pyfaas:stackFile": "stack.yml"}, "pyfaas:stackFile", "cannot read"),
        (
            {"functions.py": IMPORT + "f = function('Bad', image='x:1')\n"},
            {"pyfaas:functionsFile": "functions.py"},
            "pyfaas:functionsFile",
            "function name 'Bad' is invalid",
        ),
        (
            {"stack.yml": "functions:\n  1fn:\n    image: x:1\n"},
            {"pyfaas:stackFile": "stack.yml"},
            "pyfaas:stackFile",
            "function name '1fn' is invalid: must be a DNS-1035 label",
        ),
        (
            {"stack.yml": "functions:\n  fn:\n    image: ' x:1 '\n"},
            {"pyfaas:stackFile": "stack.yml"},
            "pyfaas:stackFile",
            "image ' x:1 ' is not a valid image reference",
        ),
        (
            {"stack.yml": "functions:\n  f:\n    image: x:1\n    labels: [oops]\n"},
            {"pyfaas:stackFile": "stack.yml"},
            "pyfaas:stackFile",
            "stack.yml:4:13: functions.f.labels: expected a map",
        ),
        (
            {"stack.yml": "functions:\n  f:\n    image: x:1\n    namespace: elsewhere\n"},
            {"pyfaas:stackFile": "stack.yml"},
            "pyfaas:stackFile",
            "namespace 'elsewhere', which is not a function namespace",
        ),
        (
            {
                "functions.py": IMPORT + "f = function('f', image='x:1')\n",
                "stack.yml": "functions:\n  f:\n    image: y:1\n",
            },
            {"pyfaas:functionsFile": "functions.py", "pyfaas:stackFile": "stack.yml"},
            "pyfaas:stackFile",
            "function 'f' is also defined at functions.py:f",
        ),
    ],
)
def test_bad_function_sources_name_the_key_and_place(
    tmp_path: Path, files: dict[str, str], config: dict[str, str], key: str, text: str
) -> None:
    root = _project(tmp_path, files)
    with pytest.raises(ConfigError) as info:
        render(config, root=root)
    assert info.value.field == key
    assert text in str(info.value), str(info.value)


_KEYS = st.sampled_from(
    [
        "pyfaas:gateway", "pyfaas:nats", "pyfaas:image", "pyfaas:functionNamespace", "pyfaas:idler",
        "pyfaas:functionSecrets", "pyfaas:extraFunctionNamespaces", "pyfaas:queueWorker", "pyfaas:bogus",
        "pyfaas:functionDefaults", "pyfaas:createNamespaces", "other:key",
    ]
)  # fmt: skip
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["replicas", "image", "enabled", "resources", "x"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)


@given(st.dictionaries(_KEYS, _VALUES | _VALUES.map(json.dumps), max_size=4))
def test_any_config_loads_or_names_a_pyfaas_key(config: dict[str, Any]) -> None:
    try:
        load_config(config)
    except ConfigError as exc:
        assert exc.field is not None and exc.field.startswith("pyfaas:")
        assert str(exc).startswith(f"stack config {exc.field}: ")
