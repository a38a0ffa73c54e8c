"""Shared contract of pyfaas: OpenFaaS wire models, labels, names, settings base and errors. No I/O.

Nothing here imports another part of pyfaas, so the watchdog can ship with only this package.
"""
