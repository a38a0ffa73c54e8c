"""The scaling controller (``pyfaas-idler``): scale to zero and target tracking over the gateway's HTTP API.

Modules: ``settings`` (environment, faas-idler's names), ``load`` (Prometheus or gateway-metrics load
sources), ``decisions`` (pure idle clocks and scale-down stabilisation), ``controller`` (the reconcile loop),
``metrics``, ``app`` (composition root). Local mode's Prometheus + AlertManager launcher lives with the
local-mode supervisor (``pyfaas.cli.local.monitoring``). See docs/autoscaling.md.
"""
