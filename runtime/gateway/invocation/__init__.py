"""Synchronous invocation: ``/function/NAME``. ``routing`` (ready sets, least-in-flight choice, scale from
zero), ``proxy`` (the route handler), ``upstream`` (the pooled HTTP/1.1 client to replicas), ``deadlines``
(the per-call timeout budget)."""
