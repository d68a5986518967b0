"""top-k: the head and the top k encoder layers train; embeddings and lower layers stay frozen.

Upper layers hold the most task-specific features; lower ones generic syntax that rarely needs
to move. Training only the top few is faster (no backward pass below them) and overfits less.
"""

from pydantic import Field

from ..errors import ConfigError
from ..settings import Settings
from . import STRATEGIES
from .base import Strategy
from .layers import layer_groups, set_trainable


class TopKOptions(Settings):
    top_k: int = Field(2, ge=1, description="top-k: number of top encoder layers trained with the head.")


@STRATEGIES.register("top-k")
class TopK(Strategy):
    Options = TopKOptions

    def prepare(self, model):
        groups = layer_groups(model)
        k = self.config.top_k
        if k > len(groups.layers):
            raise ConfigError(f"invalid top_k: {k} is more than the model's {len(groups.layers)} layers")
        trainable = set(groups.head).union(*groups.layers[-k:])
        set_trainable(model, trainable)
        return model
