"""The kopf handlers: which events reconcile which Function.

* A Function is created, changed (spec, labels or annotations) or found at start-up (``resume``): reconcile
  it. A missing secret or a failing API is retried by kopf with a doubling delay; an invalid spec is not
  retried (the status names the field) until the spec changes.
* A function's Deployment or Service changes or disappears: reconcile its owner (drift is corrected).
* One of its pods changes: refresh the owner's status only (image pull failures, crash loops, readiness).

kopf keeps its bookkeeping in ``status.kopf`` (not in annotations: the object stays as applied) and adds
no finalizer: there is nothing to clean up that the garbage collector does not already remove.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from pyfaas.core.function_crd import GROUP, PLURAL, VERSION
from pyfaas.core.labels import LABEL_FUNCTION
from pyfaas.operator.reconcile import InvalidFunction, Reconciler, RetryLater, owner_of

__all__ = ["build_registry", "kopf_settings"]

log = logging.getLogger("pyfaas.operator")


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.progress_storage = kopf.StatusProgressStorage(name="kopf")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(name="kopf")
    settings.posting.level = logging.WARNING  # Kubernetes Events for problems only
    settings.posting.reporting_component = "pyfaas-operator"
    settings.watching.server_timeout = 290
    settings.watching.client_timeout = 300
    settings.scanning.disabled = True  # the resources are known; no cluster-wide CRD discovery needed
    return settings


def build_registry(
    reconciler: Reconciler, *, login: kopf.ConnectionInfo, retry_initial: float, retry_max: float
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    async def credentials(**_: Any) -> kopf.ConnectionInfo:
        return login

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry, id="reconcile")
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry, id="reconcile")
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, id="reconcile")
    async def function_changed(body: kopf.Body, retry: int, **_: Any) -> None:
        if body.metadata.get("deletionTimestamp"):
            return
        try:
            await reconciler.reconcile(dict(body))
        except InvalidFunction as exc:
            raise kopf.PermanentError(str(exc)) from exc
        except RetryLater as exc:
            raise kopf.TemporaryError(str(exc), delay=min(retry_max, retry_initial * 2**retry)) from exc

    async def child_changed(body: Mapping[str, Any], apply: bool, name: str | None) -> None:
        namespace = (body.get("metadata") or {}).get("namespace")
        if not name or not namespace:
            return
        try:
            await reconciler.refresh(str(namespace), name, apply=apply)
        except Exception:  # an event handler must never stop the watch; the next event tries again
            log.exception("function %s/%s: reconcile after a change of its objects failed", namespace, name)

    selector = {LABEL_FUNCTION: kopf.PRESENT}

    @kopf.on.event("apps", "v1", "deployments", labels=selector, registry=registry, id="deployment")
    async def deployment_event(body: kopf.Body, **_: Any) -> None:
        await child_changed(body, apply=True, name=owner_of(body))

    @kopf.on.event("", "v1", "services", labels=selector, registry=registry, id="service")
    async def service_event(body: kopf.Body, **_: Any) -> None:
        await child_changed(body, apply=True, name=owner_of(body))

    @kopf.on.event("", "v1", "pods", labels=selector, registry=registry, id="pod")
    async def pod_event(body: kopf.Body, **_: Any) -> None:
        # Pods belong to ReplicaSets; the faas_function label names the function.
        await child_changed(
            body, apply=False, name=(body.get("metadata") or {}).get("labels", {}).get(LABEL_FUNCTION)
        )

    return registry
