"""Local mode: ``pyfaas up`` / ``pyfaas down``, the whole platform on one machine as supervised processes.

``pyfaas up`` runs a supervisor (in the foreground, or detached with ``--detach``) that starts, in order:
nats-server with JetStream, the gateway with the local provider, the queue worker, Prometheus + AlertManager
(when installed) and the idler; each restarts with backoff if it crashes. It then deploys the functions of
``stack.yml`` / ``functions.py`` in the working directory (else the bundled examples) over HTTP.

State directory layout (``--state-dir``, default ``.pyfaas``)::

    up.lock                      held (flock) by the running supervisor: a second ``pyfaas up`` sees it
    up.pid                       the supervisor's PID and start time (JSON): ``pyfaas down`` signals it
    processes.json               every child's PID and start time, rewritten on each (re)start
    ports.json                   the ports of this run (gateway, metrics, NATS, Prometheus ...)
    status.json                  start-up progress, read by the ``--detach`` parent to show it
    deployed.json                digest of each function deployed on start (unchanged ones are not redeployed)
    basic-auth-user              admin credentials (0600), the gateway's and idler's secret_mount_path
    basic-auth-password
    nats/                        nats-server configuration and JetStream file store
    provider/                    the local provider's state (functions, secrets, replica logs)
    monitoring/                  Prometheus and AlertManager configuration and data
    logs/<service>.log           output of each child; logs/up.log: the detached supervisor's own

Modules: ``layout`` (paths, ports, records), ``credentials``, ``services`` (what each child runs),
``service_supervisor`` (process supervision), ``monitoring`` (Prometheus +
AlertManager), ``progress`` (readiness reporting), ``functions`` (deploy on start),
``platform`` (start-up order and shutdown), ``daemon`` (the detached process), ``stop`` (``pyfaas down``),
``commands`` (click).
Besides ``pyfaas deploy``'s loader and local-mode mapping (``pyfaas.cli.stackfile``, ``.deployment``), only
``pyfaas.core`` and ``pyfaas.provider`` are imported: every service is started as a process.
"""
