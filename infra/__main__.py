"""The Pulumi program (``Pulumi.yaml``: ``main: infra/``): read the stack config, load functions, deploy.

Everything is validated before the first resource is registered: a bad config value or function file stops
``pulumi preview``/``up`` with one line naming the config key.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Pulumi runs this folder as a script, which puts the folder itself first on sys.path: take it off (its
# modules are ``pyfaas.infra.*``, never top-level names). ``pyfaas`` itself comes from the stack's virtualenv
# (``pip install -e ".[infra]"``, see Pulumi.yaml).
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

import pulumi  # noqa: E402

from pyfaas.core.resources import bundled  # noqa: E402
from pyfaas.infra.program import run  # noqa: E402

run(
    config_values=pulumi.runtime.config.CONFIG.get(),
    admin_password=pulumi.Config("pyfaas").get_secret("adminPassword"),
    root=Path(pulumi.get_root_directory()),
    alerts_dir=bundled("alerts"),
    env=os.environ,
)
