"""Watchdog modes, one module each, all implementing ``runtime.watchdog.runner.Runner``."""
