"""The Pulumi program that deploys pyfaas to Kubernetes (``Pulumi.yaml``: ``main: infra/``).

``__main__`` gathers the stack config and runs :func:`pyfaas.infra.program.run`: validate the
config (:mod:`pyfaas.infra.config`), load functions (:mod:`pyfaas.infra.sources`), then register the
``Platform`` component (:mod:`pyfaas.infra.pyfaas_platform`), which wires one component per module:
``namespaces``, ``gateway``, ``nats_jetstream``, ``prometheus``, ``alertmanager``, ``services`` (queue-worker,
idler) and ``function``.
Imports only ``pyfaas.core``. See ``docs/deploy-kubernetes.md``.
"""
