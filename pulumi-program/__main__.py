"""The Pulumi program's entry point (``Pulumi.yaml``: ``main: pulumi-program/``).

Pulumi runs this folder as a script, which puts the folder first on ``sys.path``. It holds only this file,
so nothing is shadowed and nothing needs rewriting; the program itself is the package ``pyfaas.infra``, from
the stack's virtualenv (``pip install -e ".[infra]"``, see ``Pulumi.yaml``). This file only gathers the
inputs; everything is validated before the first resource is registered.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from pyfaas.infra.program import run

run(
    config_values=pulumi.runtime.config.CONFIG.get(),
    admin_password=pulumi.Config("pyfaas").get_secret("adminPassword"),
    root=Path(pulumi.get_root_directory()),
    alerts_dir=Path(__file__).resolve().parent.parent / "alerts",  # the repository's alerts/
    env=os.environ,
)
