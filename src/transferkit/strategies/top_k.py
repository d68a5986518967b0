"""top-k: the head and the top k encoder layers train; embeddings and lower layers stay frozen.

Upper layers hold the most task-specific features; lower ones generic syntax that rarely needs
to move. Training only the top few is faster (no backward pass below them) and overfits less.
"""

from ..errors import ConfigError
from . import Strategy, register_strategy
from .layers import layer_groups, set_trainable


@register_strategy("top-k")
class TopK(Strategy):
    def prepare(self, model):
        groups = layer_groups(model)
        k = self.config.top_k
        if k > len(groups.layers):
            raise ConfigError(f"invalid top_k: {k} is more than the model's {len(groups.layers)} layers")
        trainable = set(groups.head).union(*groups.layers[-k:])
        set_trainable(model, trainable)
        return model
