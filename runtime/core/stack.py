"""OpenFaaS ``stack.yml`` → :class:`FunctionDefinition` list (contract §8.1-8.2). Pure: no I/O.

The caller reads the stack file and hands over its text; ``environment_file`` entries and template
``fprocess`` values come through callbacks (or a mapping of file name → text), so this module stays pure.

faas-cli semantics kept: ``provider.name`` must be ``openfaas``; ``version``, when given, must be ``1.0``;
``lang: Dockerfile`` becomes ``dockerfile``; envVars = ``environment`` then each ``environment_file`` in order
(later wins); ``fprocess`` falls back to the template's; scalar values of maps are strings (``2`` → ``"2"``,
``true`` → ``"true"``).

Environment substitution (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``; unset → empty) is applied to
every scalar *after* YAML parsing, not to the raw text as faas-cli does: a value can never change the YAML
structure (a ``#`` or ``: `` in a variable stays text), and every error still points at the right line.

Every problem raises :class:`StackError` naming the file, line, column and the dotted field path, e.g.
``stack.yml:14:7: functions.echo.labels: expected a map``. Unknown keys are not errors (faas-cli ignores
them) but are reported in :attr:`Stack.warnings`, so a typo such as ``enviroment`` is visible.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from pyfaas.core.definitions import FunctionDefinition
from pyfaas.core.errors import ValidationFailed
from pyfaas.core.models import FunctionDeployment, FunctionResources
from pyfaas.core.names import DNS1123_RULE, validate_function_name, validate_namespace, validate_secret_name

__all__ = [
    "Stack",
    "StackError",
    "TemplateSource",
    "filter_functions",
    "parse_stack",
    "substitute_env",
]

FileReader = Callable[[str], str] | Mapping[str, str]
"""``environment_file`` contents: a callback taking the path as written, or a mapping path → text."""

_MAX_NODES = 100_000
"""Bound on nodes visited: YAML aliases can make a small file expand exponentially."""

_TOP_KEYS = {"version", "provider", "functions", "configuration"}
_PROVIDER_KEYS = {"name", "gateway", "network"}
_CONFIGURATION_KEYS = {"templates", "copy"}
_FUNCTION_KEYS = {
    "lang",
    "handler",
    "image",
    "fprocess",
    "environment",
    "environment_file",
    "secrets",
    "skip_build",
    "constraints",
    "labels",
    "annotations",
    "limits",
    "requests",
    "readonly_root_filesystem",
    "build_options",
    "build_args",
    "build_secrets",
    "platforms",
    "namespace",
}
_RESOURCE_KEYS = {"memory", "cpu", "nvidia.com/gpu", "amd.com/gpu", "intel.com/gpu"}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


class StackError(ValidationFailed):
    """A stack file (or one of its environment files) is invalid."""

    def __init__(self, filename: str, line: int, column: int, path: str, problem: str) -> None:
        where = f"{filename}:{line}:{column}" if line else filename
        text = f"{where}: {path}: {problem}" if path else f"{where}: {problem}"
        super().__init__(text, field=path or None)
        self.filename = filename
        self.line = line
        self.column = column
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """An entry of ``configuration.templates``."""

    name: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class Stack:
    """A parsed stack file."""

    functions: list[FunctionDefinition]
    provider: str = "openfaas"
    gateway: str | None = None
    """``provider.gateway`` as written (faas-cli normalises it only when it is used)."""
    templates: list[TemplateSource] = field(default_factory=list)
    copy: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [definition.name for definition in self.functions]


def substitute_env(text: str, env: Mapping[str, str]) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` (unset or empty) and ``${VAR-default}`` (unset only)."""

    def replace(match: re.Match[str]) -> str:
        name, operator, default = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        if operator == ":-" and not value:
            return default
        if operator == "-" and value is None:
            return default
        return value or ""

    return _ENV_REF.sub(replace, text) if "${" in text else text


def filter_functions(
    functions: Iterable[FunctionDefinition], *, glob: str | None = None, regex: str | None = None
) -> list[FunctionDefinition]:
    """faas-cli's ``--filter`` (a glob on the name) and ``--regex`` (a search on the name) selection."""
    selected = list(functions)
    if glob:
        selected = [f for f in selected if fnmatch.fnmatchcase(f.name, glob)]
    if regex:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise ValidationFailed(f"invalid --regex {regex!r}: {exc}", field="regex") from exc
        selected = [f for f in selected if pattern.search(f.name)]
    return selected


class _Document:
    """Typed access to one composed YAML document, with errors that carry the node's position."""

    def __init__(self, text: str, filename: str, env: Mapping[str, str] | None) -> None:
        self.filename = filename
        self.env = env
        self.visited = 0
        self.warnings: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._resolver = yaml.resolver.Resolver()
        try:
            self.root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "invalid YAML"
            raise StackError(filename, *_position(mark), "", f"invalid YAML: {problem}") from exc
        except yaml.YAMLError as exc:
            raise StackError(filename, 0, 0, "", f"invalid YAML: {exc}") from exc
        except RecursionError as exc:
            raise StackError(filename, 0, 0, "", "invalid YAML: nested too deeply") from exc

    def fail(self, node: yaml.Node | None, path: str, problem: str) -> StackError:
        return StackError(self.filename, *_position(node.start_mark if node else None), path, problem)

    def _count(self, node: yaml.Node) -> None:
        self.visited += 1
        if self.visited > _MAX_NODES:
            raise self.fail(node, "", f"document too large: more than {_MAX_NODES} nodes (after aliases)")

    def warn(self, node: yaml.Node, path: str, problem: str) -> None:
        line, column = _position(node.start_mark)
        self.warnings.append(f"{self.filename}:{line}:{column}: {path}: {problem}")

    # --- shapes ---------------------------------------------------------------------------------------

    def mapping(self, node: yaml.Node, path: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """Entries of a mapping node as (key text, key node, value node); duplicate keys are errors."""
        self._count(node)
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, path, f"expected a map, got {_kind(node)}")
        entries: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(key_node, path, "merge keys (<<) are not supported")
            key_path = f"{path}.<key>" if path else "<key>"
            key = self.text(key_node, key_path)
            child = f"{path}.{key}" if path else key
            if key in seen:
                raise self.fail(key_node, child, "duplicate key")
            seen.add(key)
            entries.append((key, key_node, value_node))
        return entries

    def sequence(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        self._count(node)
        if _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, path, f"expected a list, got {_kind(node)}")
        return list(node.value)

    def _substituted(self, node: yaml.Node, path: str) -> yaml.ScalarNode:
        self._count(node)
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, path, f"expected a single value, got {_kind(node)}")
        if self.env is None or "${" not in node.value:
            return node
        value = substitute_env(node.value, self.env)
        tag = node.tag
        if node.style is None:  # a plain scalar's type follows the substituted text, as with faas-cli
            tag = self._resolver.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
        return yaml.ScalarNode(tag, value, node.start_mark, node.end_mark, node.style)

    def scalar(self, node: yaml.Node, path: str) -> Any:
        """The Python value of a scalar node, after environment substitution."""
        node = self._substituted(node, path)
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            raise self.fail(node, path, f"invalid value: {exc}") from exc

    def text(self, node: yaml.Node, path: str, *, allow_null: bool = False) -> str:
        """A scalar as written (after substitution), as Go's YAML decoder fills a string: ``2`` → ``"2"``."""
        node = self._substituted(node, path)
        if _is_null(node):
            if allow_null:
                return ""
            raise self.fail(node, path, "expected a value, got null")
        return str(node.value)

    def boolean(self, node: yaml.Node, path: str) -> bool:
        value = self.scalar(node, path)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true"
        raise self.fail(node, path, f"expected true or false, got {value!r}")

    def string_map(self, node: yaml.Node, path: str) -> dict[str, str]:
        if _is_null(node):
            return {}
        return {
            key: self.text(value, f"{path}.{key}", allow_null=True)
            for key, _key_node, value in self.mapping(node, path)
        }

    def string_list(self, node: yaml.Node, path: str) -> list[str]:
        return [self.text(item, f"{path}[{i}]") for i, item in enumerate(self.sequence(node, path))]


def _position(mark: Any) -> tuple[int, int]:
    if mark is None:
        return 0, 0
    return int(mark.line) + 1, int(mark.column) + 1


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a map"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if _is_null(node):
        return "null"
    return f"{node.value!r}"


def _read(reader: FileReader, path: str) -> str:
    if callable(reader):
        return reader(path)
    return reader[path]


def parse_stack(
    text: str,
    *,
    filename: str = "stack.yml",
    env: Mapping[str, str] | None = None,
    env_files: FileReader | None = None,
    template_fprocess: Callable[[str], str | None] | None = None,
) -> Stack:
    """Parse a stack file's text.

    ``env`` enables ``${VAR}`` substitution (pass ``os.environ`` for faas-cli's default, ``None`` to disable).
    ``env_files`` supplies ``environment_file`` contents; without it, a function that lists one is an error.
    ``template_fprocess(lang)`` gives a template's ``fprocess`` for functions that set none.
    """
    document = _Document(text, filename, env)
    root = document.root
    if root is None or _is_null(root):
        raise StackError(filename, 1, 1, "", "the file is empty: expected a map with a 'functions' key")

    provider, gateway = "openfaas", None
    functions_node: yaml.Node | None = None
    templates: list[TemplateSource] = []
    copy: list[str] = []
    for key, key_node, value in document.mapping(root, ""):
        if key == "version":
            version = document.text(value, "version", allow_null=True)
            if version not in {"", "1.0"}:
                raise document.fail(value, "version", f"unsupported version {version!r}: only 1.0 is valid")
        elif key == "provider":
            provider, gateway = _provider(document, value)
        elif key == "functions":
            functions_node = value
        elif key == "configuration":
            templates, copy = _configuration(document, value)
        else:
            document.warn(key_node, key, "unknown key (ignored)")

    definitions: list[FunctionDefinition] = []
    if functions_node is None:
        raise document.fail(root, "functions", "required: a map of function name to its settings")
    if not _is_null(functions_node):
        for name, key_node, value in document.mapping(functions_node, "functions"):
            definitions.append(
                _function(
                    document, name, key_node, value, env_files=env_files, template_fprocess=template_fprocess
                )
            )
    return Stack(
        functions=definitions,
        provider=provider,
        gateway=gateway,
        templates=templates,
        copy=copy,
        warnings=document.warnings,
    )


def _provider(document: _Document, node: yaml.Node) -> tuple[str, str | None]:
    name, gateway = "", None
    for key, key_node, value in document.mapping(node, "provider"):
        if key == "name":
            name = document.text(value, "provider.name", allow_null=True)
        elif key == "gateway":
            gateway = document.text(value, "provider.gateway", allow_null=True) or None
        elif key == "network":
            document.text(value, "provider.network", allow_null=True)
        else:
            document.warn(key_node, f"provider.{key}", "unknown key (ignored)")
    if name != "openfaas":
        raise document.fail(node, "provider.name", f"must be 'openfaas', got {name!r}")
    return name, gateway


def _configuration(document: _Document, node: yaml.Node) -> tuple[list[TemplateSource], list[str]]:
    templates: list[TemplateSource] = []
    copy: list[str] = []
    if _is_null(node):
        return templates, copy
    for key, key_node, value in document.mapping(node, "configuration"):
        if key == "templates":
            for i, item in enumerate(document.sequence(value, "configuration.templates")):
                path = f"configuration.templates[{i}]"
                entry = {
                    k: document.text(v, f"{path}.{k}", allow_null=True)
                    for k, _, v in document.mapping(item, path)
                }
                if not entry.get("name"):
                    raise document.fail(item, f"{path}.name", "required")
                templates.append(TemplateSource(name=entry["name"], source=entry.get("source", "")))
        elif key == "copy":
            copy = document.string_list(value, "configuration.copy")
        else:
            document.warn(key_node, f"configuration.{key}", "unknown key (ignored)")
    return templates, copy


def _resources(document: _Document, node: yaml.Node, path: str) -> FunctionResources | None:
    if _is_null(node):
        return None
    picked: dict[str, str] = {}
    for key, key_node, value in document.mapping(node, path):
        text = document.text(value, f"{path}.{key}", allow_null=True)
        if key not in _RESOURCE_KEYS:
            document.warn(key_node, f"{path}.{key}", "unknown resource (ignored)")
        elif text:
            picked[key] = text
    if not picked:
        return None
    return FunctionResources.model_validate(picked)


def _function(
    document: _Document,
    name: str,
    key_node: yaml.Node,
    node: yaml.Node,
    *,
    env_files: FileReader | None,
    template_fprocess: Callable[[str], str | None] | None,
) -> FunctionDefinition:
    base = f"functions.{name}"
    try:
        validate_function_name(name)
    except ValidationFailed as exc:
        raise document.fail(key_node, base, f"invalid function name {name!r}: {DNS1123_RULE}") from exc
    if _is_null(node):
        raise document.fail(node, base, "expected a map of settings (at least 'image'), got null")

    values: dict[str, Any] = {}
    nodes: dict[str, yaml.Node] = {}
    for key, k_node, value in document.mapping(node, base):
        path = f"{base}.{key}"
        nodes[key] = value
        if key in {"lang", "handler", "image", "fprocess", "namespace", "platforms"}:
            values[key] = document.text(value, path, allow_null=True)
        elif key in {"environment", "labels", "annotations", "build_args", "build_secrets"}:
            values[key] = document.string_map(value, path)
        elif key in {"environment_file", "secrets", "constraints", "build_options"}:
            values[key] = document.string_list(value, path)
        elif key in {"skip_build", "readonly_root_filesystem"}:
            values[key] = document.boolean(value, path)
        elif key in {"limits", "requests"}:
            values[key] = _resources(document, value, path)
        else:
            document.warn(k_node, path, "unknown key (ignored)")

    image = values.get("image", "")
    if not image:
        raise document.fail(
            nodes.get("image", node), f"{base}.image", "required: the function's container image"
        )
    lang = values.get("lang", "")
    if lang.lower() == "dockerfile":
        lang = "dockerfile"
    namespace = values.get("namespace") or None
    if namespace:
        try:
            validate_namespace(namespace)
        except ValidationFailed as exc:
            raise document.fail(nodes["namespace"], f"{base}.namespace", exc.message) from exc
    for i, secret in enumerate(values.get("secrets", [])):
        try:
            validate_secret_name(secret)
        except ValidationFailed as exc:
            raise document.fail(nodes["secrets"], f"{base}.secrets[{i}]", exc.message) from exc

    env_vars = dict(values.get("environment", {}))
    for i, env_file in enumerate(values.get("environment_file", [])):
        env_vars.update(
            _environment_file(
                document, nodes["environment_file"], f"{base}.environment_file[{i}]", env_file, env_files
            )
        )

    fprocess = values.get("fprocess") or None
    if fprocess is None and lang and template_fprocess is not None:
        try:
            fprocess = template_fprocess(lang) or None
        except (OSError, ValueError, KeyError) as exc:
            raise document.fail(
                nodes.get("lang", node), f"{base}.lang", f"cannot read template {lang!r}: {exc}"
            ) from exc

    try:
        deployment = FunctionDeployment(
            service=name,
            image=image,
            envProcess=fprocess,
            envVars=env_vars or None,
            secrets=values.get("secrets") or None,
            labels=values.get("labels") or None,
            annotations=values.get("annotations") or None,
            limits=values.get("limits"),
            requests=values.get("requests"),
            namespace=namespace,
            readOnlyRootFilesystem=values.get("readonly_root_filesystem", False),
            constraints=values.get("constraints") or None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise document.fail(node, base, f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    line, _column = _position(key_node.start_mark)
    return FunctionDefinition(
        deployment=deployment,
        lang=lang,
        handler=values.get("handler", ""),
        origin=f"{document.filename}:{line}",
    )


def _environment_file(
    document: _Document, list_node: yaml.Node, path: str, env_file: str, reader: FileReader | None
) -> dict[str, str]:
    if reader is None:
        raise document.fail(list_node, path, f"cannot read {env_file!r}: no environment files were supplied")
    try:
        text = _read(reader, env_file)
    except (OSError, KeyError, ValueError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise document.fail(list_node, path, f"cannot read {env_file!r}: {problem}") from exc
    inner = _Document(text, env_file, None)
    if inner.root is None or _is_null(inner.root):
        return {}
    found: dict[str, str] = {}
    for key, key_node, value in inner.mapping(inner.root, ""):
        if key == "environment":
            found = inner.string_map(value, "environment")
        else:
            inner.warn(key_node, key, "unknown key (ignored)")
    document.warnings.extend(inner.warnings)
    return found
