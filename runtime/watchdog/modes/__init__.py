"""Watchdog modes, one module each (python mode: a package with its helpers), all implementing
``pyfaas.watchdog.runner.Runner``."""
