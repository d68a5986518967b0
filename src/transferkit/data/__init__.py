"""Data that is not yet any modality's: tables, columns, labels, splits and named datasets.

    from transferkit.data import read_table, resolve, pull_dataset
    frame = read_table("reviews.csv")              # 1-based line numbers as the index
    resolve("sst2:validation")                     # a path, or a named dataset and split

Texts, tagged tokens and images are read on top of this by `transferkit.text`, the token
classification task and `transferkit.vision`. Bad input raises `transferkit.errors.DataError`
with one line naming the file, the line and the column, and what to do about it.
"""

from .columns import LABEL_COLUMNS, find_column
from .datasets import (
                       DATASETS,
                       DETECTION_BOXES,
                       KINDS,
                       LABELLED_AUDIO,
                       LABELLED_IMAGES,
                       LABELLED_TEXTS,
                       SEGMENTATION_MASKS,
                       TAGGED_TOKENS,
                       TRANSCRIBED_AUDIO,
                       DatasetSpec,
                       Resolved,
                       dataset_info,
                       get_dataset,
                       list_datasets,
                       pull_dataset,
                       register_dataset,
                       resolve,
                       table_splits,
)
from .labels import DataWarning, LabelMap
from .loading import ClassLabelled, SplitReader, Splits, load_split, load_splits
from .splits import DEFAULT_FRACTIONS, DEFAULT_SEED, SPLIT_NAMES, find_splits, shuffled_split, split_indices
from .tables import SUPPORTED, read_table

__all__ = [
    "read_table", "SUPPORTED", "find_column", "LABEL_COLUMNS", "LabelMap", "DataWarning",
    "ClassLabelled", "SplitReader", "Splits", "load_splits", "load_split", "find_splits", "split_indices",
    "shuffled_split", "SPLIT_NAMES",
    "DEFAULT_SEED", "DEFAULT_FRACTIONS",
    "DATASETS", "DatasetSpec", "Resolved", "register_dataset", "list_datasets", "dataset_info", "pull_dataset",
    "get_dataset", "resolve", "table_splits", "KINDS", "LABELLED_TEXTS", "TAGGED_TOKENS", "LABELLED_IMAGES",
    "LABELLED_AUDIO", "TRANSCRIBED_AUDIO", "SEGMENTATION_MASKS",
    "DETECTION_BOXES",
]
