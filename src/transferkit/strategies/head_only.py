"""head-only: the pretrained encoder is frozen; only the new task head trains.

Cheapest strategy and the safest on very small datasets: the features stay exactly the
pretrained ones (a linear probe trained end to end with the engine's regularisation).
"""

from . import STRATEGIES
from .base import Strategy
from .layers import layer_groups, set_trainable


@STRATEGIES.register("head-only")
class HeadOnly(Strategy):
    applies_llrd = False  # only the head trains
    default_lr_scale = 20.0  # a fresh linear layer alone: benchmarks/defaults.py, strategy group

    def prepare(self, model):
        set_trainable(model, set(layer_groups(model).head))
        return model
