"""The Pulumi program that deploys pyfaas to Kubernetes (``Pulumi.yaml``: ``main: infra/``).

``__main__`` gathers the stack config and runs :func:`infra.program.run`: validate the config
(:mod:`infra.config`), load functions (:mod:`infra.sources`), then register the ``Platform`` component
(:mod:`infra.pyfaas_platform`), which wires one component per module: ``namespaces``, ``gateway``,
``nats_jetstream``, ``prometheus``, ``alertmanager``, ``services`` (queue-worker, idler) and ``function``.
Imports only ``runtime.core``. See ``docs/deploy-kubernetes.md``.
"""
