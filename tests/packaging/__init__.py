"""Packaging: the public API, the version, ``python -m pyfaas``, the bundled files and the built wheel."""
