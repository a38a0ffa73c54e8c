"""Operating-system and HTTP plumbing every service may use: the layer between ``pyfaas.core`` (pure) and
the services, which may not import each other.

- ``processes``: process identity (PID + start time) and process-group / process-tree kills.
- ``atomic_files``: replace a file atomically; clear the temporary files a crash left behind.
- ``credentials``: the ``basic-auth-user`` / ``basic-auth-password`` files of ``secret_mount_path``.
- ``http_headers``: hop-by-hop header rules for anything that passes HTTP messages on.
- ``http_guard``: the slow and oversized request-head guard of the aiohttp servers.
- ``aiohttp_internals``, ``nats_internals``: the only modules that touch private internals of those libraries.

It imports only ``pyfaas.core`` and never pydantic (the watchdog, which ships alone, uses it).
"""
