"""The training loop's own settings: optimisation, regularisation, schedule, checkpoints, devices.

Every task and strategy shares these; they are one part of the composed FinetuneConfig
(transferkit.methods.config), next to the parts that tasks and strategies declare.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..settings import Settings


class TrainSettings(Settings):
    # Optimisation.
    epochs: int = Field(3, ge=1, description="Training epochs.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")
    batch_size: int = Field(32, ge=1, description="Training batch size per process.")
    batch_tokens: int | None = Field(
        None, ge=8, description="Text: fill each training batch up to this many padded tokens instead of --batch-size "
                                "examples (short sentences make wider batches; examples per batch then vary).")
    eval_batch_size: int | None = Field(None, ge=1, description="Evaluation batch size (default 2x --batch-size).")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    lr: float | Literal["auto"] | None = Field(
        None, description="Peak learning rate (AdamW), or auto: an LR range test on the data picks it (default: by "
                          "task, model family and strategy; printed when training starts).")
    lr_find_steps: int = Field(100, ge=10, description="Steps of the LR range test (--lr auto, lr-find).")
    head_lr: float | None = Field(None, gt=0, description="Learning rate of the new head (default: --lr).")
    llrd: float | None = Field(None, gt=0, le=1, description="Layer-wise LR decay factor per layer going down "
                                                             "(e.g. 0.9).")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (never on norms and biases).")
    schedule: Literal["linear", "cosine", "constant"] = Field("linear", description="LR schedule after warmup.")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="Warmup as a fraction of all steps.")
    warmup_steps: int | None = Field(None, ge=0, description="Warmup steps (overrides --warmup-ratio).")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping norm (unset: no clipping).")
    freeze_embeddings: bool = Field(
        False, description="Keep the input token-embedding table fixed, whatever the strategy trains (a MiniLM's "
                           "is half its weights: no gradient or optimizer update for it each step).")

    # Regularisation and stopping.
    dropout: float | None = Field(None, ge=0, lt=1, description="Override every dropout probability of the model.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of the cross-entropy loss.")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Stop after this many evaluations without improvement; best weights are restored.")
    early_stopping_metric: str | None = Field(
        None, description="Validation metric for early stopping, loss is minimised (default: the task's, "
                          "macro_f1 for classification, f1 for token classification).")
    early_stopping_min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as an improvement.")
    eval_every: int | None = Field(None, ge=1, description="Also evaluate every N steps (always at epoch end).")

    # Engine.
    seed: int = Field(42, description="Random seed (initialisation, batch order, dropout, augmentation).")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 where the CPU/GPU supports it natively, else fp32 (fp16 on older GPUs).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present.")
    save_every: int | None = Field(None, ge=1, description="Checkpoint every N steps (always at epoch end).")
    keep_checkpoints: int = Field(
        0, ge=0, description="Checkpoints a finished run keeps, the newest K (weights + optimizer state, to continue "
                             "it with --resume --epochs N). 0: none; they exist to resume an interrupted run and are "
                             "deleted once the model is saved (the last 2 are kept while training).")
    resume: bool = Field(False, description="Continue from the latest checkpoint in the run directory.")
    overwrite: bool = Field(False, description="Replace an existing run directory.")
    log_every: int = Field(10, ge=1, description="Log loss, LR and speed every N steps.")
    tensorboard: bool = Field(False, description="Also write TensorBoard logs to RUN_DIR/tensorboard.")
    progress: bool = Field(True, description="Show a progress bar.")
    cache_tokens: bool = Field(True, description="Cache tokenised data under $TRANSFERKIT_HOME/cache/tokens.")

    @field_validator("lr", mode="before")
    @classmethod
    def _learning_rate(cls, value):
        if value is None or value == "auto":
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number > 0 or auto") from None
        if not number > 0 or number != number or number == float("inf"):
            raise ValueError("must be a number > 0 or auto")
        return number
