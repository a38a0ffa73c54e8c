"""The ``/system/*`` API: ``routes`` (functions, scale, secrets, logs, namespaces, info), ``alerts`` (the
AlertManager webhook, ``/system/alert``), ``openapi`` (the served OpenAPI document)."""
