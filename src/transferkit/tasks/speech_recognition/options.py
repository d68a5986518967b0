"""The settings of speech recognition runs (their fields become flags of finetune and distill)."""

from __future__ import annotations

from pydantic import Field

from ...audio.options import AudioInput
from ...settings import Settings


class SpeechData(AudioInput):
    transcript_column: str | None = Field(None, description="Speech recognition: column of a manifest holding the "
                                                            "transcripts (detected when unset: text, transcript, "
                                                            "sentence, ...).")
    language: str | None = Field(None, description="Speech recognition: the language spoken, a Whisper code (en, de, "
                                                   "...), for multilingual Whisper models (default: detected from the "
                                                   "training clips; when predicting, per clip if never set).")


class SpeechTraining(Settings):
    freeze_encoder: bool = Field(False, description="Speech recognition: keep the audio encoder frozen (Whisper trains "
                                                    "its decoder, a CTC model its output layer): faster, and less "
                                                    "forgetting on small data.")
    spec_augment: bool = Field(False, description="Speech recognition: SpecAugment, the model's own masking of random "
                                                  "time spans and feature bands of training inputs.")
    speed_perturb: float = Field(0.0, ge=0, le=0.3, description="Speech recognition: play each training clip at a "
                                                                "random speed within +-this fraction (0.1: 0.9-1.1x; "
                                                                "0: off).")
    noise_snr: float | None = Field(None, ge=-10, le=60, description="Speech recognition: mix white noise into each "
                                                                     "training clip at a random SNR from this many dB "
                                                                     "to 20 dB more (e.g. 10; unset: off).")
