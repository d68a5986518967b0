"""`transferkit embed`: pooled embeddings of every row of a file (or every image or clip of a
folder), written keyed by row. Text encoders embed through `TextEncoder`; image backbones and
speech encoders through their default task's probe encoder, so `embed` and `probe` read the
same features."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..outputs.embeddings import check_embedding_output, write_embedding_file


def write_embeddings(model: str, data: str, output: str | os.PathLike, *, pooling: str = "mean",
                     max_length: int = 256, batch_size: int = 64, precision: str = "fp32",
                     text_column: str | None = None, drop_invalid: bool = False, overwrite: bool = False) -> Path:
    """Embed every text (image, clip) of `data` with the frozen encoder `model` and write `output`
    (see outputs.embeddings for the formats)."""
    import time

    from rich.console import Console

    from ..text import TextEncoder, load_texts
    from .config import model_family

    output = Path(output)
    check_embedding_output(output, overwrite)
    if model_family(model) not in (None, "text-encoder", "text-decoder"):
        t0 = time.perf_counter()
        rows, vectors = media_embeddings(model, data, batch_size)
        write_embedding_file(output, rows, vectors)
        Console(stderr=True).print(f"{len(vectors)} embeddings of dim {vectors.shape[1]} → {output} "
                                   f"({len(vectors) / (time.perf_counter() - t0):.1f} inputs/s)")
        return output
    examples = load_texts(data, text_column=text_column, require_labels=False, drop_invalid=drop_invalid)
    encoder = TextEncoder.from_ref(model, pooling=pooling, max_length=max_length, batch_size=batch_size,
                                   precision=precision)
    vectors = encoder.encode(examples.texts)
    write_embedding_file(output, np.asarray(examples.rows), vectors)
    Console(stderr=True).print(f"{len(vectors)} embeddings of dim {vectors.shape[1]} → {output} "
                               f"({encoder.last_throughput:.0f} texts/s)")
    return output


def media_embeddings(model: str, data, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(rows, float32 [N, dim]) of images or clips, by the probe encoder of the model family's task;
    unreadable files are skipped (with the decoder's counted warning) and their rows left out."""
    from ..tasks import TASKS, task_for_family
    from .config import ProbeConfig, has_probe, model_family

    name = task_for_family(model_family(model), has_probe)
    task = TASKS.get(name)(ProbeConfig.build({"model": model, "task": name, "batch_size": batch_size}))
    examples = task.read_inputs(data)
    encoder = task.feature_encoder(model)
    dataset = task.encode(examples)
    row_of = dict(zip(examples.names, examples.rows))
    rows = np.asarray([row_of[n] for n in dataset.names])
    return rows, np.asarray(encoder.features(dataset, description="embedding"), dtype=np.float32)
