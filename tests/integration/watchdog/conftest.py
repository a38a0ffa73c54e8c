from tests.support.watchdog import watchdog_factory

__all__ = ["watchdog_factory"]
