"""The operator: reconciles ``Function`` objects (``openfaas.com/v1``) into function Deployments and Services.

Built on kopf (``docs/decisions/0120-kopf-for-the-operator.md``). The objects are the ones
:mod:`pyfaas.core.k8s` builds for the Kubernetes provider and the Pulumi program, owned by their Function so
the garbage collector removes them with it. See ``docs/operator.md``.
"""
