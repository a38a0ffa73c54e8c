"""pyfaas watchdog: the OpenFaaS-compatible server inside every function replica.

Runs alone in a function image (``pyfaas-watchdog``, ``python -m pyfaas.watchdog``), so it imports only
``pyfaas.core`` and third-party libraries. Entry point: ``pyfaas.watchdog.service.run(environ, argv)``.

Layout:

- ``settings``: ``WatchdogSettings`` (OpenFaaS env names, pyfaas extensions documented there).
- ``service``: start-up, listeners, port file, lock file, SIGTERM drain; ``run``.
- ``server``: the per-request path shared by every mode (internal routes, limits, metrics, access log).
- ``runner``: the ``Runner`` protocol and the mode factory; ``modes/``: the registry ``MODES``, one module
  per mode (``http``, ``streaming``, ``serializing``, ``fork``, ``static``; the process-per-request three on
  ``per_request``'s base) and ``modes/python/`` (``mode`` and its pieces: ``loader``, ``mapping``,
  ``handler_pool``, ``inline_policy``).
- ``function_processes``: every process the watchdog starts; ``cgi``: the ``Http_*`` environment.
- ``health``, ``metrics``, ``logs``, ``httputil``, ``memory``: small shared helpers.
- ``zygote_server``: the warm fork server local mode uses for fast replica starts.
"""
