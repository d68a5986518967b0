"""CLI flags generated from a settings schema: one typer option per field (`batch_size` -> `--batch-size`).

Every flag defaults to "not given": values come from the saved run (on --resume), then the config
file, then the flags. Unknown flags fail in click; invalid values fail in pydantic, with one
line naming the field, before any data or model is loaded.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Optional

import typer

_SHORT_FLAGS = {"model": "-m", "output": "-o"}
_SCALARS = (bool, int, float, str)


def _cli_type(annotation) -> type:
    """The click-level type of a field: its scalar type, or str for choices, lists and unions (pydantic parses)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    return annotation if annotation in _SCALARS else str


def _choices(annotation) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return [c for arg in typing.get_args(annotation) for c in _choices(arg)]


def settings_parameters(schema, flags: dict[str, str] | None = None,
                        skip: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """One keyword parameter (a typer option) per field of `schema`; `flags` renames some."""
    params = [inspect.Parameter("config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                                default=typer.Option(None, "--config", "-c",
                                                     help="YAML/JSON file with any of these settings (flags override)."))]
    fields = schema.model_fields
    order = [*schema.setting_order, *(name for name in fields if name not in schema.setting_order)]
    for name in order:
        field = fields[name]
        if name in skip:
            continue
        kind = _cli_type(field.annotation)
        flag = (flags or {}).get(name) or "--" + name.replace("_", "-")
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
        if name in _SHORT_FLAGS:
            decls.append(_SHORT_FLAGS[name])
        help_text = field.description or ""
        if field.default is not None:  # "\\[" keeps rich from reading the brackets as markup
            help_text += f" \\[default: {str(field.default).lower() if kind is bool else field.default}]"
        metavar = "|".join(_choices(field.annotation))
        option = typer.Option(None, *decls, help=help_text, show_default=False,
                              metavar=metavar if 0 < len(metavar) <= 24 else None)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                        annotation=Optional[kind]))
    return params


# Options shared by the commands that read tables of inputs.
TextCol = typer.Option(None, "--text-column", help="Column with the text (auto: text, sentence, ...).")
ImageCol = typer.Option(None, "--image-column", help="Image runs: column with the image paths (auto: path, image, ...).")
LabelCol = typer.Option(None, "--label-column", help="Column with the label (auto: label, class, ...).")
DropInvalid = typer.Option(False, "--drop-invalid", help="Drop rows with empty or non-text values instead of failing.")
