"""Watchdog modes, one module each, all implementing ``pyfaas.watchdog.runner.Runner``."""
