"""Validated settings: one pydantic schema per run kind, assembled from the parts that own them.

A setting is declared once, by what uses it: the engine owns epochs and lr, a task owns how its
data is read (`--tag-column`, `--image-size`), a strategy owns its knobs (`--top-k`, `--lora-r`).
`compose` joins such parts into the flat schema of a command, so a CLI flag, a YAML key and a
keyword argument of `finetune()` always mean the same thing, and `foreign_settings` can tell a
user that `--mixup` is an image setting when they fine-tune a text model.

Settings are merged as saved run config < config file < explicit flags/keywords, then validated
once, before any model or data is touched. Errors name the field in one line.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError


class Settings(BaseModel):
    """Base of every settings part and schema: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # field name -> the owners that declared it ("task image-classification", ...); absent: common.
    setting_owners: ClassVar[dict[str, tuple[str, ...]]] = {}
    # The fields in the order of the parts that declared them (for --help).
    setting_order: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def build(cls, *layers: dict[str, Any] | None):
        """Merge setting dicts (later wins, None values ignored) and validate into one object."""
        merged: dict[str, Any] = {}
        for layer in layers:
            for key, value in (layer or {}).items():
                if value is not None:
                    merged[key.replace("-", "_")] = value
        try:
            return cls(**merged)
        except ValidationError as e:
            raise ConfigError(describe_error(e, cls)) from None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def changed(self) -> dict[str, Any]:
        """Settings given explicitly with a value other than their default."""
        fields = type(self).model_fields
        return {name: getattr(self, name) for name in self.model_fields_set
                if name in fields and getattr(self, name) != fields[name].default}


class NoSettings(Settings):
    """The empty part, for owners without settings of their own."""


def compose(name: str, parts: Sequence[tuple[str | None, type[Settings]]], doc: str = "",
            module: str | None = None) -> type[Settings]:
    """A flat schema with the fields and validators of every part.

    `parts` are (owner, part) pairs; owner None marks settings every run has. A field that two
    parts declare differently is a programming error, raised at import time.
    """
    bases: list[type[Settings]] = []
    owners: dict[str, set[str]] = {}
    declared: dict[str, Any] = {}
    for owner, part in parts:
        for field, info in part.model_fields.items():
            signature = (repr(info.annotation), repr(info.default), info.description)
            if declared.setdefault(field, signature) != signature:
                raise ValueError(f"setting {field!r} of {part.__name__} differs from another part's definition")
            owners.setdefault(field, set())
            if owner is None or None in owners[field]:
                owners[field] = {None}  # common to every run: never foreign
            else:
                owners[field].add(owner)
        if part not in bases and not any(issubclass(b, part) for b in bases):
            bases.append(part)
    schema = type(name, tuple(bases), {"__doc__": doc, "__module__": module or __name__})
    schema.setting_owners = {f: tuple(sorted(o)) for f, o in owners.items() if None not in o}
    schema.setting_order = tuple(declared)
    return schema


def foreign_settings(settings: Settings, *owners: str) -> str | None:
    """A one-line complaint about the first changed setting that belongs only to other owners."""
    for name, value in sorted(settings.changed().items()):
        declared_by = type(settings).setting_owners.get(name)
        if declared_by and not set(declared_by) & set(owners):
            users = " or ".join(declared_by)
            return (f"invalid {name}: {value!r} is a setting of {users}; this run is "
                    f"{', '.join(owners)}, which does not use it (drop --{name.replace('_', '-')})")
    return None


def refuse_foreign(settings: Settings, *owners: str) -> None:
    """Raise the one-line ConfigError of `foreign_settings`, if any."""
    problem = foreign_settings(settings, *owners)
    if problem:
        raise ConfigError(problem)


def load_config_file(path: str | os.PathLike, schema: type[BaseModel] | None) -> dict[str, Any]:
    """Settings from a YAML or JSON file; keys may be spelled with dashes like the flags.
    `schema`: the settings the keys must name (None: any key)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 - any parse error becomes one line naming the file
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{path}: cannot parse ({first_line})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of setting: value at the top level")
    # A saved run config carries bookkeeping keys that are not settings.
    settings = {str(k).replace("-", "_"): v for k, v in doc.items() if k not in ("kind", "run_info")}
    for key in settings if schema is not None else ():
        if key not in schema.model_fields:
            raise ConfigError(f"{path}: {unknown_setting(key, schema)}")
    return settings


# Hugging Face TrainingArguments spellings users bring along.
HF_NAMES = {"learning_rate": "lr", "num_train_epochs": "epochs", "per_device_train_batch_size": "batch_size",
            "per_device_eval_batch_size": "eval_batch_size", "gradient_accumulation_steps": "grad_accum",
            "lr_scheduler_type": "schedule", "max_seq_length": "max_length", "output_dir": "output",
            "model_name_or_path": "model", "save_steps": "save_every", "logging_steps": "log_every",
            "eval_steps": "eval_every", "label_smoothing_factor": "label_smoothing"}


def unknown_setting(name: str, schema: type[BaseModel]) -> str:
    close = [HF_NAMES[name]] if name in HF_NAMES else difflib.get_close_matches(name, schema.model_fields, n=1)
    return f"unknown setting {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")


def describe_error(error: ValidationError, schema: type[BaseModel]) -> str:
    """The first validation problem as 'field: what is wrong', with a suggestion for typos."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "settings"
    name = str(first["loc"][0]) if first["loc"] else ""
    if first["type"] == "extra_forbidden":
        return unknown_setting(name, schema)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "value_error" and message.split(":")[0] in schema.model_fields:
        return message  # a model-level check that already names its field
    if first["type"].startswith("literal_error") or "union" in first["type"]:
        return f"invalid {field}: {message}"
    return f"invalid {name}: {message} (got {first.get('input')!r})"
