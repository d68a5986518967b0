"""head-only: the pretrained encoder is frozen; only the new task head trains.

Cheapest strategy and the safest on very small datasets: the features stay exactly the
pretrained ones (a linear probe trained end to end with the engine's regularisation).
"""

from . import Strategy, register_strategy
from .layers import layer_groups, set_trainable


@register_strategy("head-only")
class HeadOnly(Strategy):
    def prepare(self, model):
        set_trainable(model, set(layer_groups(model).head))
        return model
