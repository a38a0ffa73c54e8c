"""The local provider: each function replica is a ``pyfaas-watchdog`` process on 127.0.0.1.

Replicas are started by a ``Spawner``: forked from a warm zygote process that has already imported the
watchdog runtime (``ZygoteSpawner``, the default: a cold start costs a fork instead of an interpreter start),
or started as ``python -m pyfaas.watchdog`` (``SubprocessSpawner``, the fallback). Each gets the environment
a container of the function would get (``envVars``, ``fprocess`` from ``envProcess``, ``HOSTNAME``,
``OPENFAAS_NAME``, ``OPENFAAS_NAMESPACE``) plus ``port=0``, ``port_file``, ``lock_path``, ``metrics_port=0``
and ``secret_mount_path``. A replica is ready once its port file exists and ``/_/health`` answers 200.

State directory layout (``LocalProviderConfig.state_dir``)::

    functions/<ns>/<fn>.json      spec (FunctionDeployment wire JSON), desired replicas, createdAt
    namespaces/<ns>.json          namespaces other than the default one (which always exists)
    secrets/<ns>/<secret>         secret values, mode 0600, directories 0700
    mounts/<ns>/<fn>/<secret>     per-function copy of exactly the secrets the function lists (0600);
                                  passed to its replicas as secret_mount_path
    logs/<ns>/<fn>.log[.1]        bounded log ring per function (raw lines in records; two halves)
    run/<ns>/<fn>/<replica>.*     runtime files: .port, .lock, .log (raw output), .pid (pid + start time)
    run/zygote.{pid,log,sock}     the zygote's record, output and socket

Functions, namespaces and secrets are written atomically (temporary file, fsync, rename, fsync of the
directory); a write that fails raises ``StateStoreError`` and leaves the previous file intact. A new
provider on the same directory stops processes recorded by an earlier run (matching PID *and* start time, so
a reused PID is never signalled), keeps their output, and starts every function with its replica count.

Secret isolation: a function's replicas are pointed only at their own mount directory, which holds only the
secrets that function lists. All replicas run as the same OS user as the provider; with ``sandbox`` on (the
gateway's default) each function runs in a bubblewrap sandbox of its own that shows it no other function's
files or secrets and no state directory (:mod:`pyfaas.provider.local.sandbox`); without one, a function that
goes looking can read the state directory.
"""

from pyfaas.provider.local.config import LocalProviderConfig
from pyfaas.provider.local.provider import LocalProvider
from pyfaas.provider.local.replica_supervisor import ExitRecord, ReplicaInfo, ReplicaState, SupervisorStatus
from pyfaas.provider.local.spawner import FallbackSpawner, ReplicaProcess, Spawner, SubprocessSpawner
from pyfaas.provider.local.zygote_client import ZygoteSpawner

__all__ = [
    "ExitRecord",
    "FallbackSpawner",
    "LocalProvider",
    "LocalProviderConfig",
    "ReplicaInfo",
    "ReplicaProcess",
    "ReplicaState",
    "Spawner",
    "SubprocessSpawner",
    "SupervisorStatus",
    "ZygoteSpawner",
]
