"""A callback that kills a training run at a step, for the resume tests."""

from __future__ import annotations


class Crash(Exception):
    pass


class CrashAt:
    """A callback that stops training with an exception after step `at` (a killed process)."""

    def __init__(self, at: int):
        self.at = at

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(state, *args):
            if hook == "on_step_end" and state.step == self.at:
                raise Crash

        return call
