"""pyfaas.gateway: the public HTTP API, grouped by concern.

``invocation/`` (``/function/NAME``), ``async_calls/`` (``/async-function/NAME``, call status, dead
letters), ``system_api/`` (``/system/*``), ``ui/`` (the portal); at the top the composition root (``app``,
``__main__``), ``settings``, ``keys`` (typed application keys), ``auth``, ``middlewares``, ``metrics`` and
``inputs`` (request parsing shared by the groups).
"""
