"""The async queue worker: JetStream consumer with fair scheduling, retries, dead letters and callbacks."""

from runtime.worker.app import Worker
from runtime.worker.settings import WorkerSettings

__all__ = ["Worker", "WorkerSettings"]
