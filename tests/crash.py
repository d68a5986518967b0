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


def assert_resumes_bit_identically(model: str, train, task: str, tmp_path, crash_at: int = 3, **settings) -> None:
    """A run killed after step `crash_at` and resumed ends with the weights of one that never stopped."""
    import numpy as np
    import pytest

    from transferkit.methods.finetune import finetune

    full = finetune(model, train, output=tmp_path / "a", task=task, **settings)
    with pytest.raises(Crash):
        finetune(model, train, output=tmp_path / "b", task=task, callbacks=[CrashAt(crash_at)], **settings)
    resumed = finetune(model, train, output=tmp_path / "b", task=task, resume=True, **settings)
    assert resumed.info["steps"] == full.info["steps"]
    a, b = full.predictor.model.state_dict(), resumed.predictor.model.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
