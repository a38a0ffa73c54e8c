"""The Pulumi program's objects on a real API server (the session's ``kube_cluster``, Kubernetes 1.24).

No Pulumi CLI can run here, so the program is rendered under Pulumi's mocks (:mod:`tests.support.infra`) and
every Kubernetes object it registers is applied the way pulumi-kubernetes v4 applies it: server-side apply
with its field manager (``pulumi-kubernetes-<random>``, or the object's ``pulumi.com/patchFieldManager``),
forced only where the object says ``pulumi.com/patchForce``. Three stacks (default, functions, every option),
each in fresh ``k2-...`` namespaces, then the next version of each (changed image tags, replicas, NATS 1 → 3
nodes) applied over it. The API server must accept every object.

Then the gateway's ServiceAccount, with a real token from TokenRequest, is asked what it may do: the API
server's own answers (SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview) must allow every
call the Kubernetes provider makes and nothing more.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lightkube import AsyncClient, codecs
from lightkube.core.exceptions import ApiError
from lightkube.models.authorization_v1 import (
    ResourceAttributes,
    SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReviewSpec,
    SubjectAccessReviewSpec,
)
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.authorization_v1 import (
    SelfSubjectAccessReview,
    SelfSubjectRulesReview,
    SubjectAccessReview,
)

from pyfaas.core.models import FunctionDeployment, Secret
from pyfaas.infra.gateway_rbac import CREDENTIAL_RULES, CREDENTIALS_SECRET, PROVIDER_RULES, SERVICE_ACCOUNT
from tests.infra.conftest import FUNCTIONS_PY, STACK_YML
from tests.infra.test_default_stack import provider_api_calls
from tests.integration.kubernetes.live import (
    admin_client,
    live_provider,
    pulumi_apply,
    service_account_kubeconfig,
)
from tests.support.infra import Rendered, render

pytestmark = pytest.mark.timeout(300)

RBAC_KINDS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
"""Applied first, as the program's dependencies order them for pulumi-kubernetes (namespaces first)."""


@dataclass
class Names:
    """Unique namespace names for one stack on the shared cluster."""

    prefix: str = field(default_factory=lambda: f"k2-{uuid.uuid4().hex[:6]}")
    """``k2-``: the namespaces the contract suite's reset leaves alone (tests may share the cluster)."""

    @property
    def control(self) -> str:
        return f"{self.prefix}-sys"

    @property
    def functions(self) -> str:
        return f"{self.prefix}-fn"

    def extra(self, tag: str) -> str:
        return f"{self.prefix}-{tag}"

    def base(self) -> dict[str, Any]:
        return {"pyfaas:controlNamespace": self.control, "pyfaas:functionNamespace": self.functions}


def _images(version: int) -> dict[str, Any]:
    """Pinned image tags of release ``version`` (1 or 2): the upgrade changes every tag."""
    return {
        "pyfaas:image": f"ghcr.io/pyfaas/pyfaas:0.{version}.0",
        "pyfaas:nats": {"image": f"nats:2.10.2{3 + version}-alpine"},
        "pyfaas:prometheus": {"image": f"prom/prometheus:v2.5{4 + version}.1"},
        "pyfaas:alertmanager": {"image": f"prom/alertmanager:v0.2{6 + version}.0"},
    }


def _merged(*configs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for config in configs:
        for key, value in config.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
    return out


def default_stack(names: Names, version: int, root: Path) -> Rendered:
    upgrade = {"pyfaas:nats": {"replicas": 3}, "pyfaas:gateway": {"replicas": 2}} if version == 2 else {}
    return render(_merged(names.base(), _images(version), upgrade))


def functions_stack(names: Names, version: int, root: Path) -> Rendered:
    team = names.extra("ta")
    (root / "functions.py").write_text(
        FUNCTIONS_PY.replace('namespace="team-a"', f'namespace="{team}"').replace(
            "api:1.4.0", f"api:1.{3 + version}.0"
        )
    )
    (root / "stack.yml").write_text(STACK_YML)
    (root / "env").mkdir(exist_ok=True)
    (root / "env" / "common.yml").write_text("environment:\n  region: eu-west\n")
    config = {
        "pyfaas:functionsFile": "functions.py",
        "pyfaas:stackFile": "stack.yml",
        "pyfaas:extraFunctionNamespaces": [team],
        "pyfaas:functionSecrets": {"api-key": "s3cr3t-value", f"{team}/reports-token": "t0ken"},
    }
    upgrade = {"pyfaas:nats": {"replicas": 3}} if version == 2 else {}
    return render(
        _merged(names.base(), _images(version), config, upgrade), root=root, env={"TAG": f"3.{version}.0"}
    )


def full_stack(names: Names, version: int, root: Path) -> Rendered:
    node_port = 30000 + int(names.prefix[3:], 16) % 2700  # on a shared cluster: unlikely to be taken
    config = {
        "pyfaas:gateway": {"replicas": 1 + version, "serviceType": "NodePort", "nodePort": node_port},
        "pyfaas:nats": {"replicas": 3, "storageClass": "fast", "storageSize": "5Gi"},
        "pyfaas:extraFunctionNamespaces": [names.extra("ta"), names.extra("tb")],
        "pyfaas:idler": {"inactivityDuration": f"{10 + version}m"},
    }
    return render(_merged(names.base(), _images(version), config), admin_password="configured-secret")


def _ordered(rendered: Rendered) -> list[dict[str, Any]]:
    objects = rendered.objects()
    first = [o for kind in RBAC_KINDS for o in objects if o["kind"] == kind]
    return first + [o for o in objects if o["kind"] not in RBAC_KINDS]


@contextlib.asynccontextmanager
async def cleaned(admin: AsyncClient, names: Names) -> AsyncIterator[list[dict[str, Any]]]:
    """Deletes whatever the test applied (namespaces, cluster-scoped RBAC) on exit, without waiting."""
    applied: list[dict[str, Any]] = []
    try:
        yield applied
    finally:
        for body in applied:
            if not body["metadata"].get("namespace"):  # Namespaces and cluster-scoped RBAC
                with contextlib.suppress(ApiError):
                    await admin.delete(type(codecs.from_dict(body)), body["metadata"]["name"])


async def apply_all(admin: AsyncClient, rendered: Rendered, applied: list[dict[str, Any]]) -> list[str]:
    """Apply every object; returns ``kind/namespace/name`` of each, in order."""
    done = []
    for body in _ordered(rendered):
        await pulumi_apply(admin, body)
        applied.append(body)
        meta = body["metadata"]
        done.append(f"{body['kind']}/{meta.get('namespace', '')}/{meta['name']}")
    return done


STACKS = {"default": default_stack, "functions": functions_stack, "full-options": full_stack}


@pytest.mark.parametrize("stack", list(STACKS))
async def test_every_object_is_accepted_and_so_is_the_upgrade(
    admin: AsyncClient, tmp_path: Path, stack: str
) -> None:
    names = Names()
    build = STACKS[stack]
    first, second = build(names, 1, tmp_path), build(names, 2, tmp_path)
    async with cleaned(admin, names) as applied:
        created = await apply_all(admin, first, applied)
        assert len(created) == len(first.objects()) >= 25
        upgraded = await apply_all(admin, second, applied)
        nats = (await admin.get(StatefulSet, "nats", namespace=names.control)).to_dict()
        assert nats["spec"]["replicas"] == 3
        assert nats["spec"]["template"]["spec"]["containers"][0]["image"] == "nats:2.10.25-alpine"
        print(f"\n{stack}: {len(created)} objects applied, then {len(upgraded)} for the upgrade")


async def test_an_in_place_nats_storage_change_is_refused_and_the_replacement_accepted(
    admin: AsyncClient, tmp_path: Path
) -> None:
    names = Names()
    small = render(names.base())
    bigger = render({**names.base(), "pyfaas:nats": {"storageSize": "5Gi"}})
    async with cleaned(admin, names) as applied:
        await apply_all(admin, small, applied)
        statefulset = bigger.object("StatefulSet", "nats", names.control)
        with pytest.raises(ApiError) as refused:  # what a plain update would get
            await pulumi_apply(admin, statefulset)
        assert refused.value.status.code == 422 and "Forbidden" in str(refused.value.status.message)
        # What Pulumi does instead (replaceOnChanges, deleteBeforeReplace): delete, then create.
        await admin.delete(StatefulSet, "nats", namespace=names.control)
        created = await pulumi_apply(admin, statefulset)
        assert [c["metadata"]["name"] for c in created["spec"]["volumeClaimTemplates"]] == ["data-5gi"]


# the gateway's ServiceAccount: every call the provider makes, and nothing more ---------------------------
def _provider_checks() -> Iterator[tuple[str, str, str, str | None]]:
    """(group, resource, verb, subresource) of every call in the provider's code, read from its source."""
    for (group, resource), verbs in sorted(provider_api_calls().items()):
        base, _, sub = resource.partition("/")
        for verb in sorted(verbs):
            yield group, base, verb, sub or None


def _rule_set(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups") or []
        for resource in rule.get("resources") or []
        for verb in rule.get("verbs") or []
    }


BASIC_USER = {
    ("authorization.k8s.io", "selfsubjectaccessreviews", "create"),
    ("authorization.k8s.io", "selfsubjectrulesreviews", "create"),
}
"""What every authenticated user may do (the API server's ``system:basic-user`` ClusterRole)."""


async def test_the_gateway_may_make_every_provider_call_and_nothing_more(
    admin: AsyncClient, kubeconfig: Path, tmp_path: Path
) -> None:
    names = Names()
    rendered = default_stack(names, 1, tmp_path)
    account = f"system:serviceaccount:{names.control}:{SERVICE_ACCOUNT}"
    async with cleaned(admin, names) as applied:
        await apply_all(admin, rendered, applied)
        # The program's ServiceAccount exists now: a real token for it (TokenRequest), as its pod would get.
        token_config = await service_account_kubeconfig(
            admin, kubeconfig, names.control, SERVICE_ACCOUNT, tmp_path / "gateway", create=False
        )
        async with admin_client(token_config) as gateway:
            # 1. Every call the provider's code makes, asked as the gateway itself.
            for group, resource, verb, sub in _provider_checks():
                namespaces = [None] if resource == "namespaces" else [names.functions]
                if resource == "namespaces" and verb not in ("get", "list"):
                    continue  # namespace management is opt-in (gateway.manageNamespaces): checked below
                for namespace in namespaces:
                    attributes = ResourceAttributes(
                        group=group, resource=resource, verb=verb, subresource=sub, namespace=namespace
                    )
                    review = await gateway.create(
                        SelfSubjectAccessReview(
                            spec=SelfSubjectAccessReviewSpec(resourceAttributes=attributes)
                        )
                    )
                    assert review.status is not None and review.status.allowed, (group, resource, verb, sub)

            # 2. Nothing more: the complete rule list the API server computes for the gateway, per namespace.
            expected = _rule_set(PROVIDER_RULES)
            for namespace, wanted in (
                (names.functions, expected),
                (names.control, _rule_set(CREDENTIAL_RULES)),  # its credentials Secret (by name, below)
                ("default", set()),
                ("kube-system", set()),
            ):
                review = await gateway.create(
                    SelfSubjectRulesReview(spec=SelfSubjectRulesReviewSpec(namespace=namespace))
                )
                assert review.status is not None and not review.status.incomplete
                rules = [r.to_dict() for r in review.status.resourceRules]
                found = (
                    _rule_set(rules) - BASIC_USER - {("", "namespaces", "get"), ("", "namespaces", "list")}
                )
                assert found == wanted, (namespace, sorted(found ^ wanted))

        # 3. The same question from outside (SubjectAccessReview, as an admin asks about the account):
        # a sample of what it must not do.
        forbidden = [
            ("", "secrets", "get", names.control),  # its own namespace's secrets (any name) ...
            ("", "secrets", "list", None),  # secrets cluster-wide
            ("apps", "deployments", "create", names.control),  # the platform itself
            ("apps", "deployments", "update", names.functions),  # writes are applies (patch), not PUT
            ("", "namespaces", "create", None),
            ("", "namespaces", "delete", None),
            ("rbac.authorization.k8s.io", "roles", "create", names.functions),
            ("rbac.authorization.k8s.io", "rolebindings", "create", names.functions),
            ("", "pods", "create", names.functions),
            ("", "pods/exec", "create", names.functions),
            ("", "nodes", "get", None),
            ("", "serviceaccounts/token", "create", names.control),
        ]
        for group, resource, verb, namespace in forbidden:
            base, _, sub = resource.partition("/")
            attributes = ResourceAttributes(
                group=group, resource=base, subresource=sub or None, verb=verb, namespace=namespace
            )
            review = await admin.create(
                SubjectAccessReview(spec=SubjectAccessReviewSpec(user=account, resourceAttributes=attributes))
            )
            assert review.status is not None and not review.status.allowed, (group, resource, verb, namespace)
        # ... but the one Secret its replicas share private functions' keys in (docs/decisions/0142)
        for name, verb, allowed in (
            (CREDENTIALS_SECRET, "get", True),
            (CREDENTIALS_SECRET, "update", True),
            ("basic-auth", "get", False),
            ("basic-auth", "update", False),
        ):
            attributes = ResourceAttributes(resource="secrets", verb=verb, name=name, namespace=names.control)
            review = await admin.create(
                SubjectAccessReview(spec=SubjectAccessReviewSpec(user=account, resourceAttributes=attributes))
            )
            assert review.status is not None and review.status.allowed is allowed, (name, verb)

        # 4. And the provider itself, with that token, does its work in the function namespace.
        async with live_provider(token_config, names.functions) as provider:
            await provider.create_secret(Secret(name="api-key", value="v1"))
            await provider.deploy(
                FunctionDeployment(service="api", image="localhost/a:1", secrets=["api-key"])
            )
            await provider.update(
                FunctionDeployment(service="api", image="localhost/a:2", secrets=["api-key"])
            )
            await provider.scale("api", names.functions, 2)
            assert (await provider.get_function("api", names.functions)).replicas == 2
            await provider.update_secret(Secret(name="api-key", value="v2"))
            assert names.functions in await provider.list_namespaces()
            await provider.delete("api", names.functions)
            await provider.delete_secret("api-key", names.functions)
