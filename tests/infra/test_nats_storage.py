"""``pyfaas:nats.storageSize`` on an existing stack: the StatefulSet is replaced, onto volumes of the new
size.

The API server refuses any change of a StatefulSet's ``volumeClaimTemplates`` (the live proof is in
``tests/infra/test_live_objects.py``), so the program names the claim template after the size and asks Pulumi
to replace the StatefulSet (delete first: the name stays) when the templates change.
"""

from __future__ import annotations

from pyfaas.infra.nats_jetstream import claim_name
from tests.support.infra import Rendered, render

STATEFULSET = ("kubernetes:apps/v1:StatefulSet", "pyfaas-nats-statefulset")


def _claims(rendered: Rendered) -> list[tuple[str, str]]:
    spec = rendered.object("StatefulSet", "nats", "openfaas")["spec"]
    mounts = spec["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": spec["volumeClaimTemplates"][0]["metadata"]["name"], "mountPath": "/data"} in mounts
    return [
        (c["metadata"]["name"], c["spec"]["resources"]["requests"]["storage"])
        for c in spec["volumeClaimTemplates"]
    ]


def test_a_new_size_is_a_new_claim_template_and_replaces_the_statefulset(default_stack: Rendered) -> None:
    bigger = render({"pyfaas:nats": {"storageSize": "5Gi"}})
    assert _claims(default_stack) == [("data-2gi", "2Gi")]
    assert _claims(bigger) == [("data-5gi", "5Gi")]
    for rendered in (default_stack, bigger):
        options = rendered.options[STATEFULSET]
        assert options["replaceOnChanges"] == ["spec.volumeClaimTemplates"]
        assert options["deleteBeforeReplace"] is True


def test_claim_names_are_volume_names() -> None:
    assert claim_name("2Gi") == "data-2gi"
    assert claim_name("1.5Gi") == "data-1-5gi"
    assert claim_name("500M") == "data-500m"
