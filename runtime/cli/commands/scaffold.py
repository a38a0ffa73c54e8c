"""``new NAME --lang L``, ``template list``, ``template pull SOURCE`` and ``template store list|pull``."""

from __future__ import annotations

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.gateway_url import DEFAULT_GATEWAY, normalise_gateway
from pyfaas.cli.options import json_option
from pyfaas.cli.stackfile import find_stack_file
from pyfaas.core.errors import ValidationFailed
from pyfaas.core.names import validate_function_name

__all__ = ["new", "template"]


@click.command()
@click.argument("name")
@click.option(
    "--lang",
    required=True,
    metavar="LANG",
    help="Template: python3-http, python3, node20, golang-http, bash-streaming, dockerfile, or one in "
    "./template/ (see pyfaas template list).",
)
@click.option("-a", "--append", "append", default=None, metavar="FILE", help="Add to this stack file.")
@click.option("-f", "--yaml", "stack_file", default=None, metavar="FILE", help="Same as --append.")
@click.option("-p", "--prefix", default=None, help="Image prefix (registry/user); default OPENFAAS_PREFIX.")
@click.option("-g", "--gateway", default=None, metavar="URL", help="Gateway written into a new stack file.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print what was created.")
@pass_context
def new(
    context: CliContext,
    name: str,
    lang: str,
    append: str | None,
    stack_file: str | None,
    prefix: str | None,
    gateway: str | None,
    quiet: bool,
) -> None:
    """Create a function: a handler folder NAME/ from a template, and its entry in the stack file.

    Appends to -a/-f FILE, else to stack.yaml or stack.yml here, else creates stack.yml.
    """
    from pyfaas.cli.scaffold import add_to_stack, copy_skeleton, new_stack, stack_entry
    from pyfaas.provider.local.templates import TemplateError, find_template, list_templates

    try:
        validate_function_name(name, field="name")
    except ValidationFailed as exc:
        raise CliError(exc.message, hint="e.g. pyfaas new hello-world --lang python3-http") from exc
    try:
        template = find_template(lang, context.cwd)
    except TemplateError as exc:
        raise CliError(exc.message, hint="fix or re-pull the template") from exc
    if template is None:
        names = [t.name for t in list_templates(context.cwd)]
        raise CliError(
            f"unknown template {lang!r}",
            hint=f"use one of: {', '.join(names)}, or pull more with pyfaas template pull",
        )
    folder = context.cwd / name
    if folder.exists():
        raise CliError(f"folder {folder} already exists", hint="pick another name, or remove the folder")
    if append and stack_file and append != stack_file:
        raise CliError("--append and -f name different files", hint="pass one of them")
    target = append or stack_file
    stack_path = context.path(target) if target else find_stack_file(context.cwd) or context.cwd / "stack.yml"
    prefix = context.settings.openfaas_prefix if prefix is None else prefix
    image = f"{prefix.rstrip('/')}/{name}:latest" if prefix else f"{name}:latest"
    if stack_path.exists():
        text = stack_path.read_text()
        updated = add_to_stack(text, stack_path.name, name, lang, image)
    else:
        if target and not stack_path.parent.is_dir():
            raise CliError(f"folder {stack_path.parent} does not exist", hint="create it first")
        updated = new_stack(normalise_gateway(gateway or DEFAULT_GATEWAY), stack_entry(name, lang, image))
    copy_skeleton(template, folder)
    existed = stack_path.exists()
    stack_path.write_text(updated)
    if not quiet:
        out = context.output
        out.success(f"Created {name}/ from template {lang} ({template.origin})")
        out.success(f"{'Added' if existed else 'Wrote'} {name} {'to' if existed else 'in'} {stack_path.name}")
        if template.welcome_message:
            out.line(template.welcome_message)
        out.line(f"Next: edit {name}/, then pyfaas deploy -f {stack_path.name} && pyfaas invoke {name}")


@click.group()
def template() -> None:
    """Function templates."""


@template.command("list")
@json_option
@pass_context
def list_command(context: CliContext, as_json: bool) -> None:
    """Templates `pyfaas new --lang` can use: ./template/ (pulled), then the built-in ones."""
    from pyfaas.provider.local.templates import list_templates

    templates = list_templates(context.cwd)
    if as_json:
        context.output.json(
            [
                {
                    "name": t.name,
                    "language": t.language,
                    "origin": t.origin,
                    "fprocess": t.fprocess,
                    "mode": t.image_env.get("mode") or ("fork" if t.fprocess else "image"),
                }
                for t in templates
            ]
        )
        return
    # the watchdog mode its image runs (a command with no mode set ran under the classic watchdog: fork)
    rows = [
        (t.name, t.language, t.origin, t.image_env.get("mode") or ("fork" if t.fprocess else "image"))
        for t in templates
    ]
    context.output.table(["Template", "Language", "From", "Mode"], rows)


@template.command("pull")
@click.argument("source")
@click.option("--overwrite", is_flag=True, help="Replace templates already in ./template/.")
@click.option(
    "-f", "--yaml", "stack_file", default=None, metavar="FILE", help="With `pull stack`: the stack."
)
@pass_context
def pull(context: CliContext, source: str, overwrite: bool, stack_file: str | None) -> None:
    """Fetch the templates of SOURCE into ./template/.

    SOURCE is a git repository (URL, file:// or a path; REPO#REF for a branch or tag) or a local folder,
    laid out as OpenFaaS's template repositories: template/<name>/template.yml. `pull stack` fetches the
    configuration.templates of the stack file instead (each from its source, else from the store index).
    """
    from pyfaas.cli.template_pull import pull_stack_templates, pull_templates

    if source == "stack" and not (context.cwd / source).is_dir():
        path = context.path(stack_file) if stack_file else find_stack_file(context.cwd)
        if path is None:
            raise CliError("no stack.yaml or stack.yml here", hint="pass -f FILE")
        results, built_in = pull_stack_templates(path, overwrite=overwrite, environ=context.environ)
        for result in results:
            _report_pull(context, result)
        if built_in:
            context.output.note(f"Built in, nothing to pull: {', '.join(built_in)}")
        return
    _report_pull(context, pull_templates(source, context.cwd, overwrite=overwrite, environ=context.environ))


def _report_pull(context: CliContext, result: object) -> None:
    from pyfaas.cli.template_pull import PullResult

    assert isinstance(result, PullResult)
    out = context.output
    for problem in result.invalid:
        out.warn(f"skipped {problem}")
    if result.kept:
        out.note(f"Kept {', '.join(result.kept)} already in ./template/ (pass --overwrite to replace)")
    if result.fetched:
        out.success(
            f"Fetched {len(result.fetched)} template(s): {', '.join(result.fetched)} from {result.source}"
        )


@template.group("store")
def store() -> None:
    """The bundled index of templates (built in, and well-known OpenFaaS ones)."""


@store.command("list")
@json_option
@pass_context
def store_list(context: CliContext, as_json: bool) -> None:
    """Templates in the bundled index; `local` ones run in local mode as they are."""
    from pyfaas.cli.template_pull import store_index

    entries = store_index()
    if as_json:
        context.output.json([entry.model_dump() for entry in entries])
        return
    context.output.table(
        ["Name", "Language", "Source", "Local", "Description"],
        [(e.template, e.language, e.source, "yes" if e.local else "no", e.description) for e in entries],
    )


@store.command("pull")
@click.argument("name")
@click.option("--source", "from_source", default=None, help="Pick the entry of this source (e.g. openfaas).")
@click.option("--overwrite", is_flag=True, help="Replace templates already in ./template/.")
@pass_context
def store_pull(context: CliContext, name: str, from_source: str | None, overwrite: bool) -> None:
    """Pull the repository of NAME from the bundled index (built-in templates need no pull)."""
    from pyfaas.cli.template_pull import pull_templates, store_index

    entries = [e for e in store_index() if e.template == name and from_source in (None, e.source)]
    if not entries:
        raise CliError(f"no template {name!r} in the index", hint="see pyfaas template store list")
    if not entries[0].repo:  # built in first: pulling another of the same name would hide it
        context.output.success(f"{name} is built in: pyfaas new NAME --lang {name} uses it as it is")
        return
    result = pull_templates(entries[0].repo, context.cwd, overwrite=overwrite, environ=context.environ)
    _report_pull(context, result)
