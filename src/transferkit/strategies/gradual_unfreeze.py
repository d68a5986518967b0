"""gradual-unfreeze (ULMFiT): start with the head only, unfreeze one more group from the top
every --unfreeze-every epochs (or steps with --unfreeze-unit step), the embeddings last.

The new head first learns on stable features; each lower group joins once the gradients
reaching it are no longer those of a random head, which protects pretrained knowledge.
The trainable set is a pure function of (epoch, step), so resuming restores it exactly.
"""

from typing import Literal

from pydantic import Field

from ..settings import Settings
from . import STRATEGIES
from .base import Strategy
from .layers import layer_groups, set_trainable


class GradualUnfreezeOptions(Settings):
    unfreeze_every: int = Field(1, ge=1, description="gradual-unfreeze: unfreeze one more layer group every N units.")
    unfreeze_unit: Literal["epoch", "step"] = Field("epoch", description="gradual-unfreeze: unit of --unfreeze-every.")


@STRATEGIES.register("gradual-unfreeze")
class GradualUnfreeze(Strategy):
    Options = GradualUnfreezeOptions
    changes_trainable = True

    def prepare(self, model):
        # Everything enters the optimizer; `update` freezes what is not yet due. AdamW skips
        # parameters without a gradient, so frozen groups neither move nor decay.
        for param in model.parameters():
            param.requires_grad_(True)
        self._stage = None
        return model

    def param_groups(self, model):
        # Every group is in the optimizer from the first step, though `update` has frozen all
        # but the head by the time it is built.
        from ..engine.optim import param_groups

        cfg = self.config
        return param_groups(model, cfg.lr, cfg.weight_decay, self.lr_scales(model), include_frozen=True)

    def stage(self, epoch: int, step: int) -> int:
        elapsed = epoch if self.config.unfreeze_unit == "epoch" else step
        return elapsed // self.config.unfreeze_every

    def update(self, model, epoch, step):
        stage = self.stage(epoch, step)
        if stage == self._stage:
            return
        groups = layer_groups(model).top_down()
        set_trainable(model, {name for group in groups[: stage + 1] for name in group})
        self._stage = stage
