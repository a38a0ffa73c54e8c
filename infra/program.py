"""The program's body, importable (``pulumi-program/__main__.py`` only gathers inputs): config, functions,
``Platform``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from pyfaas.core.errors import ConfigError
from pyfaas.infra.alerts import read_alert_sources
from pyfaas.infra.config import PROJECT, load_config
from pyfaas.infra.operator import operator_mode
from pyfaas.infra.pyfaas_platform import Platform, PlatformArgs
from pyfaas.infra.sources import load_functions

__all__ = ["run"]


def run(
    *,
    config_values: Mapping[str, Any],
    admin_password: pulumi.Input[str] | None,
    root: Path,
    alerts_dir: Path,
    env: Mapping[str, str],
) -> Platform:
    """Validate everything, then register the platform and export its outputs."""
    values = {key: value for key, value in config_values.items() if key != f"{PROJECT}:adminPassword"}
    config = load_config(values)
    definitions = load_functions(config, root, env)
    try:
        alerts = read_alert_sources(alerts_dir)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the alert files in {alerts_dir}: {exc}", field="alerts") from exc
    specs = [definition.deployment for definition in definitions]
    as_objects = config.functions_as == "crd"
    platform = Platform(
        "pyfaas",
        PlatformArgs(
            config=config, alerts=alerts, functions=[] if as_objects else specs, admin_password=admin_password
        ),
    )
    if config.operator.enabled:
        platform.function_names += operator_mode(platform, config, specs if as_objects else [])
    pulumi.export("gatewayUrl", platform.gateway_url)
    pulumi.export("adminUser", platform.admin_user)
    pulumi.export("adminPassword", platform.admin_password)
    pulumi.export("functions", platform.function_names)
    return platform
