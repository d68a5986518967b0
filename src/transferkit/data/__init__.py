"""Text-classification data: user files (CSV, TSV, JSONL, Parquet) and named datasets.

    from transferkit.data import load_text_splits, load_texts
    splits = load_text_splits("reviews.csv")            # seeded, stratified 80/10/10
    splits = load_text_splits("rotten_tomatoes")        # a named dataset, fetched and cached
    test = load_texts("sst2:validation", labels=splits.labels)

Bad input raises `transferkit.errors.DataError` with one line naming the file, the line and
the column, and what to do about it.
"""

from .datasets import (DatasetSpec, dataset_info, get_dataset, list_datasets, pull_dataset, register_dataset,
                       resolve, split_files)
from .labels import DataWarning, LabelMap
from .splits import TextSplits, load_text_splits, load_texts, split_indices
from .tables import SUPPORTED, read_table
from .text import LABEL_COLUMNS, TEXT_COLUMNS, TextExamples, examples_from_frame, find_column

__all__ = [
    "TextExamples", "TextSplits", "LabelMap", "DataWarning",
    "read_table", "load_texts", "load_text_splits", "split_indices", "examples_from_frame", "find_column",
    "register_dataset", "list_datasets", "dataset_info", "pull_dataset", "get_dataset", "DatasetSpec",
    "resolve", "split_files", "TEXT_COLUMNS", "LABEL_COLUMNS", "SUPPORTED",
]
