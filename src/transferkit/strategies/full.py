"""full: every parameter trains (combine with --llrd for layer-wise LR decay)."""

from . import Strategy, register_strategy


@register_strategy("full")
class Full(Strategy):
    pass
