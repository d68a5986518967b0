"""full: every parameter trains (combine with --llrd for layer-wise LR decay)."""

from . import STRATEGIES
from .base import Strategy


@STRATEGIES.register("full")
class Full(Strategy):
    pass
