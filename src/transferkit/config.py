"""Fine-tuning settings: one validated schema for the CLI, `--config run.yaml` and the Python API.

Every setting is a field of `FinetuneConfig`; the CLI builds its flags from these fields, so a
flag, a YAML key and a keyword argument of `finetune()` always mean the same thing. Settings are
merged as saved run config < config file < explicit flags/keywords, then validated once, before
any model or data is touched. Errors name the field in one line.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

Strategy = Literal["full", "head-only", "top-k", "gradual-unfreeze", "llrd", "lora"]


class FinetuneConfig(BaseModel):
    """The resolved settings of one fine-tuning run (saved as RUN_DIR/config.json)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # What to train on what.
    model: str | None = Field(None, description="Model registry name or local Hugging Face folder.")
    task: str = Field("text-classification", description="Task to fine-tune for.")
    train: str | None = Field(None, description="Training data file.")
    validation: str | None = Field(None, description="Validation data file (evaluated each epoch).")
    test: str | None = Field(None, description="Test data file (evaluated once at the end).")
    output: str | None = Field(None, description="Run directory to write.")
    text_column: str | None = Field(None, description="Text column (detected when unset).")
    label_column: str | None = Field(None, description="Label column (detected when unset).")
    drop_invalid: bool = Field(False, description="Drop rows with empty text or label instead of failing.")

    # Which parameters train.
    strategy: Strategy = Field("full", description="full, head-only, top-k, gradual-unfreeze, llrd or lora.")
    top_k: int = Field(2, ge=1, description="top-k: number of top encoder layers trained with the head.")
    unfreeze_every: int = Field(1, ge=1, description="gradual-unfreeze: unfreeze one more layer group every N units.")
    unfreeze_unit: Literal["epoch", "step"] = Field("epoch", description="gradual-unfreeze: unit of --unfreeze-every.")
    llrd: float | None = Field(None, gt=0, le=1, description="Layer-wise LR decay factor per layer going down (e.g. 0.9).")
    head_lr: float | None = Field(None, gt=0, description="Learning rate of the new head (default: --lr).")
    lora_r: int = Field(8, ge=1, description="lora: adapter rank.")
    lora_alpha: float = Field(16.0, gt=0, description="lora: scaling alpha.")
    lora_dropout: float = Field(0.1, ge=0, lt=1, description="lora: dropout on the adapter input.")
    lora_target_modules: list[str] | None = Field(
        None, description="lora: module names to adapt, comma-separated (default per architecture, query,value for BERT).")

    # Optimisation.
    epochs: int = Field(3, ge=1, description="Training epochs.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")
    batch_size: int = Field(32, ge=1, description="Training batch size per process.")
    eval_batch_size: int | None = Field(None, ge=1, description="Evaluation batch size (default 2x --batch-size).")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    lr: float = Field(5e-5, gt=0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (never on norms and biases).")
    schedule: Literal["linear", "cosine", "constant"] = Field("linear", description="LR schedule after warmup.")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="Warmup as a fraction of all steps.")
    warmup_steps: int | None = Field(None, ge=0, description="Warmup steps (overrides --warmup-ratio).")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping norm (unset: no clipping).")

    # Regularisation.
    dropout: float | None = Field(None, ge=0, lt=1, description="Override every dropout probability of the model.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of the cross-entropy loss.")
    class_weights: Literal["balanced"] | list[float] | dict[str, float] | None = Field(
        None, description="Loss weight per class: balanced, a list in label order, or JSON {label: weight}.")
    augment_delete: float = Field(0.0, ge=0, lt=1, description="Augmentation: probability to delete each token.")
    augment_swap: float = Field(0.0, ge=0, lt=1, description="Augmentation: probability to swap each token with a neighbour.")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Stop after this many evaluations without improvement; best weights are restored.")
    early_stopping_metric: str | None = Field(
        None, description="Validation metric for early stopping, loss is minimised (default: the task's, "
                          "macro_f1 for text-classification, f1 for token-classification).")
    early_stopping_min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as an improvement.")
    eval_every: int | None = Field(None, ge=1, description="Also evaluate every N steps (always at epoch end).")

    # Token classification (NER); other tasks ignore these.
    tag_column: int = Field(-1, description="token-classification: CoNLL column with the tag (0 is the token, -1 the last).")
    tag_scheme: Literal["auto", "iob1", "iob2", "bio", "bioes", "iobes"] = Field(
        "auto", description="token-classification: tagging scheme of the files (auto: detected); IOB2 inside.")
    repair_tags: bool = Field(False, description="token-classification: turn an I- tag that starts an entity into B- "
                                                 "instead of failing.")
    label_all_subwords: bool = Field(False, description="token-classification: train every sub-word of a word, not "
                                                        "only the first (B- continues as I-).")
    window_stride: int | None = Field(None, ge=0, description="token-classification: sub-words shared by the "
                                      "overlapping windows a long sentence is cut into (default max_length/4).")

    # Engine.
    max_length: int = Field(128, ge=4, le=8192, description="Truncate texts to this many tokens.")
    seed: int = Field(42, description="Random seed (initialisation, batch order, dropout, augmentation).")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 where the CPU/GPU supports it natively, else fp32 (fp16 on older GPUs).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present.")
    save_every: int | None = Field(None, ge=1, description="Checkpoint every N steps (always at epoch end).")
    keep_checkpoints: int = Field(2, ge=1, description="Keep the last K checkpoints.")
    resume: bool = Field(False, description="Continue from the latest checkpoint in the run directory.")
    overwrite: bool = Field(False, description="Replace an existing run directory.")
    log_every: int = Field(10, ge=1, description="Log loss, LR and speed every N steps.")
    tensorboard: bool = Field(False, description="Also write TensorBoard logs to RUN_DIR/tensorboard.")
    progress: bool = Field(True, description="Show a progress bar.")
    cache_tokens: bool = Field(True, description="Cache tokenised data under $TRANSFERKIT_HOME/cache/tokens.")

    # Images (task image-classification; text tasks ignore these).
    pretrained: bool = Field(True, description="Images: start from the pretrained weights (--no-pretrained: random init).")
    image_size: int | None = Field(None, ge=16, le=1024, description="Images: crop size in pixels (default: the backbone's).")
    bad_images: Literal["skip", "error"] = Field("skip", description="Images: skip unreadable images with a warning, or stop.")
    image_augment: bool = Field(True, description="Images: augment training batches (crop, flip, colour, ...).")
    crop_scale: float = Field(0.35, gt=0, le=1, description="Images: smallest random-resized-crop area (1: no crop).")
    hflip: bool = Field(True, description="Images: random horizontal flips (turn off for digits or text).")
    color_jitter: float = Field(0.2, ge=0, lt=1, description="Images: brightness/contrast/saturation jitter.")
    randaugment: int = Field(0, ge=0, le=4, description="Images: RandAugment ops per image, light magnitude (0: off).")
    mixup: float = Field(0.0, ge=0, description="Images: mixup Beta alpha (0: off; e.g. 0.2).")
    cutmix: float = Field(0.0, ge=0, description="Images: cutmix Beta alpha (0: off; e.g. 1.0).")

    @field_validator("lora_target_modules", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("class_weights", mode="before")
    @classmethod
    def _parse_class_weights(cls, value: Any) -> Any:
        # On the command line weights arrive as text: "balanced", "1,3" or '{"spam": 3}'.
        if not isinstance(value, str) or value == "balanced":
            return value
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                return json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"not valid JSON ({e.msg})") from None
        try:
            return [float(part) for part in text.split(",")]
        except ValueError:
            raise ValueError("expected 'balanced', a comma-separated list of numbers or a JSON object") from None

    @field_validator("class_weights")
    @classmethod
    def _positive_weights(cls, value: Any) -> Any:
        weights = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
        if any(w <= 0 for w in weights):
            raise ValueError("class weights must be positive")
        return value

    @model_validator(mode="after")
    def _compatible(self) -> "FinetuneConfig":
        if self.llrd is not None and self.strategy in ("head-only", "lora"):
            raise ValueError(f"llrd: layer-wise LR decay does not apply to strategy {self.strategy!r}")
        return self

    # Loading and merging ------------------------------------------------------------------

    @classmethod
    def build(cls, *layers: dict[str, Any] | None) -> "FinetuneConfig":
        """Merge setting dicts (later wins, None values ignored) and validate into one config."""
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


def load_config_file(path: str | os.PathLike, schema: type[BaseModel] = FinetuneConfig) -> dict[str, Any]:
    """Settings from a YAML or JSON file; keys may be spelled with dashes like the flags."""
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
    for key in settings:
        if key not in schema.model_fields:
            raise ConfigError(f"{path}: {unknown_setting(key, schema)}")
    return settings


# Hugging Face TrainingArguments spellings users bring along.
_HF_NAMES = {"learning_rate": "lr", "num_train_epochs": "epochs", "per_device_train_batch_size": "batch_size",
             "per_device_eval_batch_size": "eval_batch_size", "gradient_accumulation_steps": "grad_accum",
             "lr_scheduler_type": "schedule", "max_seq_length": "max_length", "output_dir": "output",
             "model_name_or_path": "model", "save_steps": "save_every", "logging_steps": "log_every",
             "eval_steps": "eval_every", "label_smoothing_factor": "label_smoothing"}


def unknown_setting(name: str, schema: type[BaseModel] = FinetuneConfig) -> str:
    close = [_HF_NAMES[name]] if name in _HF_NAMES else difflib.get_close_matches(name, schema.model_fields, n=1)
    return f"unknown setting {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")


def describe_error(error: ValidationError, schema: type[BaseModel] = FinetuneConfig) -> str:
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
