"""The training loop: one loop for every task and strategy, on accelerate.

A task supplies data and loss (`collate`, `loss`, `predict`, `evaluate`), a strategy decides
what trains (`update`, `param_groups`), this loop does the rest:

* batch order: each epoch's order is a pure function of (seed, epoch) (length-grouped,
  so padding stays small); with N processes each takes every N-th batch;
* speed: no host sync per step (the loss is summed on the device and read every
  --log-every steps), autocast in bf16/fp16 when chosen, no Python work beyond padding;
* exact resume: checkpoints hold the weights, optimizer, scheduler, every process's RNG and
  the position (epoch, next batch), so a killed run continues exactly as if never stopped;
* evaluation goes through the one inference loop (engine/inference.py), sharded over processes;
  with `final_evaluation` the caller's own end-of-run evaluation (fp32, on the exported model)
  stands in for the last epoch's, so the same set is not scored twice;
* no wasted checkpoint: with keep_checkpoints 0 a finished run keeps none, so the state after
  the last step is never written.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import ConfigError
from .batching import length_grouped_batches
from .callbacks import Callback, EarlyStopping, Timer
from .checkpoint import Checkpointer, rng_state, set_rng_state
from .device import autocast
from .inference import predict, to_device
from .optim import build_optimizer, build_scheduler, warmup_steps


@dataclass
class TrainState:
    epoch: int = 0          # epochs completed
    batch: int = 0          # next batch of the current epoch's order
    step: int = 0           # optimizer steps done
    total_steps: int = 0
    samples: int = 0        # training examples seen, all processes together
    world_size: int = 1
    stopped_early: bool = False


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int,
                  rank: int = 0, world_size: int = 1, max_tokens: int | None = None) -> list[np.ndarray]:
    """This process's batches of one epoch: same for every run with the same seed."""
    batches = length_grouped_batches(lengths, batch_size, np.random.default_rng([seed, epoch]), max_tokens=max_tokens)
    if world_size > 1:
        # Every process must take the same number of steps; wrap around to fill the last round.
        short = -len(batches) % world_size
        batches = (batches + batches[:short])[rank::world_size]
    return batches


def check_fit(config, model: torch.nn.Module, train_set) -> None:
    """Refuse training settings that this model or data cannot take (before any run directory)."""
    if config.batch_tokens and getattr(train_set, "length_unit", None) != "tokens":
        raise ConfigError("batch_tokens: batching by a token budget applies to text; this task's examples have "
                          "no token lengths, use --batch-size")
    if config.freeze_embeddings:
        input_embedding_table(model)


def input_embedding_table(model: torch.nn.Module) -> torch.nn.Parameter:
    """The token-embedding weight of a text model (or of a distillation's student)."""
    for candidate in (model, getattr(model, "student", None)):
        get = getattr(candidate, "get_input_embeddings", None)
        table = get() if callable(get) else None
        if isinstance(table, torch.nn.Embedding):
            return table.weight
    raise ConfigError("freeze_embeddings: this model has no input token-embedding table (it applies to text models)")


def evaluate(task, model, dataset, accelerator, batch_size: int, dtype: torch.dtype | None = None) -> dict:
    """The task's metrics of `model` on an encoded dataset (sharded over the processes)."""
    outputs = predict(model, dataset, task.collate, task.predict, batch_size=batch_size, dtype=dtype,
                      accelerator=accelerator)
    return task.evaluate(dataset, outputs)


class TrainLoop:
    """Trains `model` on `train_set`; construct, then `run()`. The model is trained in place."""

    def __init__(self, task, model, train_set, eval_set, strategy, config, run_dir: Path | None,
                 accelerator, dtype: torch.dtype | None, callbacks: Sequence[Callback] = (),
                 final_evaluation: Callable[[torch.nn.Module], dict | None] | None = None):
        """`final_evaluation(model)`: called once training ends (after the best weights are restored),
        returns the validation metrics to log as the last evaluation (or None)."""
        self.task, self.raw_model, self.train_set, self.eval_set = task, model, train_set, eval_set
        self.strategy, self.cfg, self.accelerator, self.dtype = strategy, config, accelerator, dtype
        self.callbacks, self.final_evaluation = list(callbacks), final_evaluation
        self.main = accelerator.is_main_process
        # While training at least 2 are kept: resuming skips a newest one that a crash damaged.
        self.checkpoints = Checkpointer(Path(run_dir) / "checkpoints", max(2, config.keep_checkpoints)) \
            if run_dir else None
        world = accelerator.num_processes
        self._epoch_order: tuple[int, list[np.ndarray]] | None = None
        check_fit(config, model, train_set)
        self.batches_per_epoch = len(self._batches(0))
        # A token budget makes each epoch's batch count depend on its shuffle: count every epoch's.
        epochs = range(config.epochs) if config.batch_tokens else [0] * config.epochs
        total = sum(math.ceil(len(self._batches(epoch)) / config.grad_accum) for epoch in epochs)
        total = min(total, config.max_steps) if config.max_steps else total
        self.state = TrainState(total_steps=total, world_size=world)
        self.early_stopping = EarlyStopping(config.early_stopping_metric, config.early_stopping_patience,
                                            config.early_stopping_min_delta)
        self._frozen_table = input_embedding_table(model) if config.freeze_embeddings else None
        self._freeze_table()
        self.optimizer = build_optimizer(strategy.param_groups(model), config.lr)
        warmup = warmup_steps(total, config.warmup_ratio, config.warmup_steps)
        self.scheduler = build_scheduler(self.optimizer, config.schedule, warmup, total)
        self.scaler = torch.amp.GradScaler(accelerator.device.type) if dtype == torch.float16 else None
        if self.checkpoints and self.main:
            self.checkpoints.remove_leftovers()
        if config.resume and self.checkpoints and (latest := self.checkpoints.load_latest()):
            self._restore(*latest)
        model.to(accelerator.device)
        self.model = accelerator.prepare_model(model)

    # ------------------------------------------------------------------ main loop

    def run(self) -> TrainState:
        cfg, state = self.cfg, self.state
        self._call("on_train_start", state)
        self.model.train()
        self._running_loss = torch.zeros((), device=self.accelerator.device)
        self._running_batches, self._timer, self._last_saved = 0, Timer(), state.step
        # Text whose example lengths are token counts also logs tokens/s (pretraining throughput).
        self._counts_tokens, self._tokens = getattr(self.train_set, "length_unit", None) == "tokens", 0
        while state.epoch < cfg.epochs and not self._done():
            self.task.start_epoch(state.epoch, cfg.epochs)
            batches = self._batches(state.epoch)
            for start in range(state.batch, len(batches), cfg.grad_accum):
                window = range(start, min(start + cfg.grad_accum, len(batches)))
                self._optimizer_step(batches, window)
                state.batch = window[-1] + 1
                self._after_step()
                if self._done():
                    break
            if state.batch >= len(batches):
                state.epoch, state.batch = state.epoch + 1, 0
                if not (self._finished() and self.final_evaluation and not cfg.early_stopping_patience):
                    self._evaluate()
                if not (self._finished() and not cfg.keep_checkpoints):
                    self._checkpoint()
        if self._last_saved != state.step and cfg.keep_checkpoints:
            self._checkpoint()
        if self.eval_set is not None and cfg.early_stopping_patience and self.checkpoints:
            self.accelerator.wait_for_everyone()  # the main process may still be writing best.pt
            best = self.checkpoints.load_best()
            if best is not None:
                self.raw_model.load_state_dict(best)
        if self.final_evaluation:
            metrics = self.final_evaluation(self.raw_model)
            # With early stopping the restored best weights were logged when they were evaluated.
            if metrics is not None and not cfg.early_stopping_patience:
                self._call("on_evaluate", state, metrics)
        self._call("on_train_end", state)
        return state

    def _finished(self) -> bool:
        return self._done() or self.state.epoch >= self.cfg.epochs

    def _freeze_table(self) -> None:
        if self._frozen_table is not None:
            self._frozen_table.requires_grad_(False)

    def _done(self) -> bool:
        return self.state.stopped_early or self.state.step >= self.state.total_steps

    def _batches(self, epoch: int) -> list[np.ndarray]:
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            cfg, acc = self.cfg, self.accelerator
            self._epoch_order = (epoch, epoch_batches(self.train_set.lengths, cfg.batch_size, cfg.seed, epoch,
                                                      acc.process_index, acc.num_processes, cfg.batch_tokens))
        return self._epoch_order[1]

    def _optimizer_step(self, batches: list[np.ndarray], window: range) -> None:
        cfg, state, acc = self.cfg, self.state, self.accelerator
        self.strategy.update(self.raw_model, state.epoch, state.step)
        self._freeze_table()  # after the strategy, which may have unfrozen everything
        for position in window:
            indices = batches[position]
            # Augmentation draws from its own generator, so it too is reproducible on resume.
            rng = np.random.default_rng([cfg.seed, state.epoch, position, acc.process_index])
            batch = to_device(self.task.collate(self.train_set, indices, rng=rng), acc.device)
            sync = position == window[-1]
            with acc.no_sync(self.model) if not sync else contextlib.nullcontext():
                with autocast(acc.device, self.dtype):
                    loss = self.task.loss(self.model, batch)
                scaled = loss / len(window)
                acc.backward(self.scaler.scale(scaled) if self.scaler else scaled)
            self._running_loss += loss.detach().float()
            self._running_batches += 1
            state.samples += len(indices) * acc.num_processes
            if self._counts_tokens:
                self._tokens += int(self.train_set.lengths[indices].sum()) * acc.num_processes
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if cfg.max_grad_norm:
            params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        state.step += 1

    def _after_step(self) -> None:
        cfg, state = self.cfg, self.state
        self._call("on_step_end", state, self.raw_model)
        if state.step % cfg.log_every == 0 or state.step == state.total_steps:
            self._log()
        if cfg.eval_every and state.step % cfg.eval_every == 0:
            self._evaluate()
        if cfg.save_every and state.step % cfg.save_every == 0:
            self._checkpoint()

    # ------------------------------------------------------------------ logging, evaluation

    def _log(self) -> None:
        if not self._running_batches:
            return
        loss = self._running_loss / self._running_batches
        if self.accelerator.num_processes > 1:
            loss = self.accelerator.reduce(loss, reduction="mean")
        lap, elapsed = self._timer.lap()
        samples = self.state.samples - getattr(self, "_logged_samples", 0)
        self._logged_samples = self.state.samples
        record = {
            "step": self.state.step,
            "epoch": round(self.state.epoch + self.state.batch / max(1, self.batches_per_epoch), 4),
            "loss": loss.item(),  # the only host sync, once per log interval
            "lr": self.scheduler.get_last_lr()[0],
            "samples_per_s": samples / lap if lap > 0 else 0.0,
            **({"tokens_per_s": self._tokens / lap if lap > 0 else 0.0} if self._counts_tokens else {}),
            "elapsed_s": round(elapsed, 3),
        }
        self._running_loss.zero_()
        self._running_batches = 0
        self._tokens = 0
        self._call("on_log", self.state, record)

    def _evaluate(self) -> None:
        if self.eval_set is None:
            return
        batch_size = self.cfg.eval_batch_size or 2 * self.cfg.batch_size
        metrics = evaluate(self.task, self.raw_model, self.eval_set, self.accelerator, batch_size, self.dtype)
        if self.cfg.early_stopping_patience:
            improved = self.early_stopping.update(metrics, self.state.step)
            if improved and self.main and self.checkpoints:
                self.checkpoints.save_best(self.raw_model.state_dict())
            self.state.stopped_early = self.early_stopping.should_stop
        self._call("on_evaluate", self.state, metrics)

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint(self) -> None:
        self._last_saved = self.state.step
        if self.checkpoints is None:
            return
        from accelerate.utils import gather_object

        rngs = [rng_state()]
        if self.accelerator.num_processes > 1:
            rngs = gather_object(rngs)
        if self.main:
            path = self.checkpoints.save(self.state.step, {
                "model": self.raw_model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler else None,
                "rng": rngs,
                "state": asdict(self.state),
                "early_stopping": self.early_stopping.state_dict(),
            })
            self._call("on_checkpoint", self.state, path)
        self.accelerator.wait_for_everyone()

    def _restore(self, path: Path, payload: dict) -> None:
        self.raw_model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        if self.scaler and payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        saved = TrainState(**payload["state"])
        self.state.epoch, self.state.batch, self.state.step = saved.epoch, saved.batch, saved.step
        self.state.samples, self.state.stopped_early = saved.samples, saved.stopped_early
        self.early_stopping.load_state_dict(payload["early_stopping"])
        rngs = payload["rng"]
        rank = self.accelerator.process_index
        if len(rngs) == self.accelerator.num_processes:
            set_rng_state(rngs[rank])
        else:  # a different process count cannot replay exactly; at least stay deterministic
            torch.manual_seed(self.cfg.seed + 1000 * saved.step + rank)

    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)
