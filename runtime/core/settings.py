"""Settings base: a frozen pydantic model built once from an injected environment mapping.

Only a service's ``__main__`` passes ``os.environ``; everything below receives the settings object.
Field names are OpenFaaS's env names (or given as ``validation_alias`` / ``AliasChoices`` where several names
exist; the first name present wins, so list the preferred one first). Durations follow OpenFaaS: a bare
integer is seconds, otherwise a Go duration string.

Example::

    class WatchdogSettings(EnvSettings):
        port: int = 8080
        exec_timeout: Duration = 30.0
        fprocess: str = Field("", validation_alias=AliasChoices("function_process", "fprocess"))

    settings = WatchdogSettings.from_env(os.environ)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, ValidationError

from pyfaas.core.booleans import parse_bool
from pyfaas.core.durations import parse_duration
from pyfaas.core.errors import ConfigError

__all__ = ["CsvInts", "CsvList", "Duration", "EnvBool", "EnvSettings", "env_names"]


def _to_duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    return value


def _to_bool(value: Any) -> Any:
    if isinstance(value, str):
        return parse_bool(value)
    return value


def _to_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Duration = Annotated[float, BeforeValidator(_to_duration)]
"""Seconds as float; from env as ``30`` (seconds) or a Go duration (``1m05s``, ``500ms``)."""
EnvBool = Annotated[bool, BeforeValidator(_to_bool)]
"""``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``/empty; anything else is an error."""
CsvList = Annotated[list[str], BeforeValidator(_to_csv)]
CsvInts = Annotated[list[int], BeforeValidator(_to_csv)]


def env_names(model: type[BaseModel], field: str) -> list[str]:
    """The environment variable names a field is read from, preferred first."""
    info = model.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias]
    return [info.alias or field]


class EnvSettings(BaseModel):
    """Base class of every service's settings: frozen, unknown variables ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Self:
        """Build settings from ``environ``; raise ``ConfigError`` naming the variable on a bad value."""
        values: dict[str, Any] = {}
        used: dict[str, str] = {}
        for field in cls.model_fields:
            for name in env_names(cls, field):
                if name in environ:
                    values[field] = environ[name]
                    used[field] = name
                    break
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            variable = used.get(field, field)
            raw = values.get(field)
            raise ConfigError(
                f"invalid value for {variable}={raw!r}: {first['msg']}", field=variable
            ) from exc
