"""Settings every audio task shares: where the paths are, what to do with a bad clip, the window."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..settings import Settings


class AudioInput(Settings):
    audio_column: str | None = Field(None, description="Audio: column of a table holding the audio file paths "
                                                       "(detected when unset).")
    bad_audio: Literal["skip", "error"] = Field("skip", description="Audio: skip unreadable or empty clips with a "
                                                                    "warning, or stop.")
    max_seconds: float | None = Field(None, gt=0, le=600, description="Audio: the window each clip is read through, "
                                                                      "in seconds, rounded up to whole seconds, at "
                                                                      "most the model's (Whisper: 30 s); default: the "
                                                                      "longest training clip. Longer clips are cut "
                                                                      "(classification) or transcribed in overlapping "
                                                                      "windows (speech recognition).")
