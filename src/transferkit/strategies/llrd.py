"""llrd: full fine-tuning with layer-wise learning-rate decay (default factor 0.9).

The head trains at --lr, the top layer at lr*f, the next at lr*f^2 ... the embeddings slowest,
so general low-level features move least. `--llrd F` alone applies the same decay on top of
full, top-k or gradual-unfreeze; this strategy is the shorthand with a default factor.
"""

from . import STRATEGIES
from .base import Strategy

DEFAULT_FACTOR = 0.9


@STRATEGIES.register("llrd")
class LayerwiseLRDecay(Strategy):
    def llrd_factor(self):
        return self.config.llrd if self.config.llrd is not None else DEFAULT_FACTOR
