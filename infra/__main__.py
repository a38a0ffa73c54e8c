"""The Pulumi program (``Pulumi.yaml``: ``main: infra/``): read the stack config, load functions, deploy.

Everything is validated before the first resource is registered: a bad config value or function file stops
``pulumi preview``/``up`` with one line naming the config key.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Pulumi runs this folder as a script, which puts the folder itself first on sys.path: take it off (its
# modules are ``infra.*``, never top-level names) and make the repository importable instead.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402

from infra.program import run  # noqa: E402

run(
    config_values=pulumi.runtime.config.CONFIG.get(),
    admin_password=pulumi.Config("pyfaas").get_secret("adminPassword"),
    root=Path(pulumi.get_root_directory()),
    alerts_dir=ROOT / "alerts",
    env=os.environ,
)
