"""The portal's theme and store settings: a bad value stops the gateway with one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.core.errors import ConfigError
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.gateway.ui.theme import accent_css, theme_info


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("ui_accent", "teal", "#rgb or #rrggbb"),
        ("ui_accent", "#12345", "#rgb or #rrggbb"),
        ("ui_links", "Handbook", "expected Label=URL"),
        ("ui_links", "Evil=javascript:alert(1)", "http(s) URL or a path"),
        ("ui_links", "Other=//elsewhere.example/x", "http(s) URL or a path"),
        ("ui_logo", "/nonexistent/logo.svg", "no file"),
        ("ui_logo", "/etc/hostname", "the logo must be one of"),
        ("ui_title", "", "at least 1 character"),
        ("store_sources", "team", "store 'team' needs a location"),
        ("store_sources", "a=x, a=y", "given twice"),
        ("store_sources", "Team=x", "must be lowercase"),
    ],
)
def test_a_bad_portal_setting_names_the_variable(variable: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        GatewaySettings.from_env({variable: value})
    assert raised.value.field == variable
    assert (
        raised.value.message.startswith(f"invalid value for {variable}=") and fragment in raised.value.message
    )


def test_theme_from_settings(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n")
    settings = GatewaySettings.from_env(
        {
            "ui_title": "Acme",
            "ui_logo": str(logo),
            "ui_accent": "#fc0",
            "ui_links": "Docs=https://d.example/, Home=/",
        }
    )
    info = theme_info(settings)
    assert info["title"] == "Acme" and info["accent"] == "#fc0"
    assert info["logo"].startswith("/ui/brand-logo?v=") and len(info["logo"]) == len("/ui/brand-logo?v=") + 12
    assert info["links"] == [{"label": "Docs", "url": "https://d.example/"}, {"label": "Home", "url": "/"}]
    # text on a light accent is dark, on a dark accent white; no accent: the portal's own colours
    assert "--accent: #fc0; --accent-text: #0b1020;" in accent_css("#fc0")
    assert "--accent-text: #ffffff;" in accent_css("#0f3b6c")
    assert "--accent" not in accent_css("")
    assert theme_info(GatewaySettings.from_env({}))["logo"] is None
