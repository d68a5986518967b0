"""Settings every text task shares: how long an input may be."""

from __future__ import annotations

from pydantic import Field

from ..settings import Settings


class TextInput(Settings):
    max_length: int = Field(128, ge=4, le=8192, description="Truncate texts to this many tokens.")
