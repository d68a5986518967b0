"""Training-time perturbations of waves for speech recognition, drawn from the batch's seeded
generator (so a resumed run draws the same): speed (resampled, the pitch moves with it, as
Kaldi's speed perturbation) and white noise at a random SNR. SpecAugment is the model's own
(transformers' `apply_spec_augment`, audio/recognition.py)."""

from __future__ import annotations

import numpy as np


def perturb(wave: np.ndarray, rng: np.random.Generator, rate: int, speed: float, snr: float | None,
            max_samples: int) -> np.ndarray:
    """`wave` played at a speed within 1 +- `speed` (when the slowed clip still fits `max_samples`)
    and mixed with white noise at an SNR from `snr` to `snr` + 20 dB (None: no noise)."""
    if speed:
        import soxr

        factor = float(rng.uniform(1 - speed, 1 + speed))
        if len(wave) / factor <= max_samples:
            wave = soxr.resample(wave, rate * factor, rate).astype(np.float32)
    if snr is not None:
        power = float(np.mean(wave.astype(np.float64) ** 2)) or 1e-8
        level = float(rng.uniform(snr, snr + 20))
        wave = (wave + rng.standard_normal(len(wave)) * np.sqrt(power / 10 ** (level / 10))).astype(np.float32)
    return wave
