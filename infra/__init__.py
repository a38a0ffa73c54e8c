"""The Pulumi program that deploys pyfaas to Kubernetes (``Pulumi.yaml``: ``main: pulumi-program/``).

``pulumi-program/__main__.py`` gathers the stack config and runs :func:`pyfaas.infra.program.run`:
validate the config (:mod:`pyfaas.infra.config`), load functions (:mod:`pyfaas.infra.sources`), then
register the ``Platform`` component (:mod:`pyfaas.infra.pyfaas_platform`), which wires one component per
module: ``namespaces``, ``gateway``, ``nats_jetstream``, ``prometheus``, ``alertmanager``, ``services``
(queue-worker, idler) and ``function``; each registers its workload through :mod:`pyfaas.infra.workload`.
Imports only ``pyfaas.core``. See ``docs/deploy-kubernetes.md``.

The components are also for a Pulumi program of your own: ``__all__`` lists what it may use
(``Platform``/``PlatformArgs``, ``Function``/``FunctionArgs``, the config model and the alert files), imported
on first use so that ``import pyfaas.infra.config`` does not load Pulumi. See "Your own Pulumi program" in
``docs/deploy-kubernetes.md``.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from pyfaas.core.lazy_exports import lazy_exports as _lazy_exports

if _TYPE_CHECKING:
    from pyfaas.infra.alerts import AlertSources, bundled_alert_sources, read_alert_sources
    from pyfaas.infra.config import PlatformConfig, load_config
    from pyfaas.infra.function import Function, FunctionArgs, FunctionSecrets, FunctionSecretsArgs
    from pyfaas.infra.pyfaas_platform import Platform, PlatformArgs, workload_options

__all__ = [
    "AlertSources",
    "Function",
    "FunctionArgs",
    "FunctionSecrets",
    "FunctionSecretsArgs",
    "Platform",
    "PlatformArgs",
    "PlatformConfig",
    "bundled_alert_sources",
    "load_config",
    "read_alert_sources",
    "workload_options",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    globals(),
    {
        "AlertSources": "pyfaas.infra.alerts",
        "bundled_alert_sources": "pyfaas.infra.alerts",
        "read_alert_sources": "pyfaas.infra.alerts",
        "PlatformConfig": "pyfaas.infra.config",
        "load_config": "pyfaas.infra.config",
        "Function": "pyfaas.infra.function",
        "FunctionArgs": "pyfaas.infra.function",
        "FunctionSecrets": "pyfaas.infra.function",
        "FunctionSecretsArgs": "pyfaas.infra.function",
        "Platform": "pyfaas.infra.pyfaas_platform",
        "PlatformArgs": "pyfaas.infra.pyfaas_platform",
        "workload_options": "pyfaas.infra.pyfaas_platform",
    },
)
