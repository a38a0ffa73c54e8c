"""The version of pyfaas, written here and nowhere else.

pyproject.toml reads it (``[tool.setuptools.dynamic]``); ``pyfaas.__version__``, ``pyfaas --version``, the
gateway's ``/system/info`` and the providers report it. It lives in ``core`` because every layer may import
``core``; reading it from the installed metadata instead would say nothing true in a source checkout.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
