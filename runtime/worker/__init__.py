"""The async queue worker: JetStream consumer with fair scheduling, retries, dead letters and callbacks."""

from pyfaas.worker.app import Worker
from pyfaas.worker.settings import WorkerSettings

__all__ = ["Worker", "WorkerSettings"]
