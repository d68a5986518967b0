"""Read user tables (CSV, TSV, JSON lines, Parquet, plain text; all but Parquet optionally
.gz/.bz2/.xz) into DataFrames.

Every reader keeps where each record starts: the returned frame's index holds 1-based line
numbers as an editor shows them (header = line 1), so any later error can point at a line.
Parquet has no lines; its index is the 1-based row number (`frame.attrs["row_kind"]` says which).

CSV/TSV go through Python's csv module rather than pandas.read_csv because pandas silently
renames a duplicated header to `x.1`, pads short rows with NaN and loses the line numbers of
multi-line quoted fields. Cells stay strings (no type guessing: `007` stays `007`, an empty
cell is ''); labels are normalised later by LabelMap.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".txt": "text"}
COMPRESSIONS = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}
SUPPORTED = (".csv, .tsv, .jsonl (.json lines), .parquet, .txt (one unlabelled text per line); all but Parquet "
             "may end in .gz, .bz2 or .xz")
_PREVIEW = 5  # how many row numbers an error lists before "and N more"


def format_rows(rows, kind: str = "line") -> str:
    """'lines 4, 9 and 12' / 'lines 4, 9, 12, 15, 20 and 37 more (42 rows)'; first few + count."""
    rows = [int(r) for r in rows]
    head = ", ".join(map(str, rows[:_PREVIEW]))
    if len(rows) == 1:
        return f"{kind} {head}"
    if len(rows) <= _PREVIEW:
        return f"{kind}s {head}"
    return f"{kind}s {head} and {len(rows) - _PREVIEW} more ({len(rows)} rows)"


def missing_file(path: Path) -> DataError:
    """The error for a path that does not exist: a broken or looping link is named as such."""
    if path.is_symlink():
        try:
            target = os.readlink(path)
            path.resolve(strict=True)
        except (RuntimeError, OSError) as e:
            if "loop" in str(e).lower() or getattr(e, "errno", None) == 40:  # ELOOP
                return DataError(f"{path}: a symbolic link loop; fix or remove the link")
            return DataError(f"{path}: a symbolic link to {target}, which does not exist; fix the link")
    return DataError(f"{path}: no such file (relative paths start at {Path.cwd()}); check the path")


def check_file(path: Path) -> None:
    """A readable file, or one line saying what it is instead."""
    if not path.exists():
        raise missing_file(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file; pass one of its files")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: permission denied; make the file readable (chmod a+r) or copy it somewhere "
                        "readable")


def table_format(path: str | os.PathLike) -> tuple[str, str | None]:
    """(format, compression suffix or None) from the file name, e.g. 'x.csv.gz' -> ('csv', '.gz')."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    compression = suffixes.pop() if suffixes and suffixes[-1] in COMPRESSIONS else None
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (compression and fmt == "parquet"):
        found = "".join(Path(path).suffixes) or "no extension"
        raise DataError(f"{path}: unsupported file type ({found}); use {SUPPORTED}")
    return fmt, compression


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table by extension; index = 1-based line (or Parquet row) number of each record.

    Raises DataError (one line naming file, line and what to do) for: a missing file, an
    unsupported extension, an empty file or one with a header only, bytes that are not UTF-8,
    a duplicated column name, a CSV/TSV line with the wrong number of fields, a JSONL line that
    is not a JSON object.
    """
    path = Path(path)
    check_file(path)
    fmt, compression = table_format(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes); it needs a header line and data rows")
    if fmt == "parquet":
        frame = _read_parquet(path)
    else:
        text = _decode(path, _read_bytes(path, compression), compression)
        if not text.strip():
            raise DataError(f"{path}: the file is empty (only blank lines); it needs a header line and data rows")
        if fmt == "jsonl":
            frame = _read_json(path, text)
        elif fmt == "text":
            frame = _read_lines(path, text)
        else:
            frame = _read_delimited(path, text, "\t" if fmt == "tsv" else ",")
    frame.attrs["source"] = str(path)
    return frame


def _read_bytes(path: Path, compression: str | None) -> bytes:
    data = path.read_bytes()
    if compression is None:
        return data
    try:
        return COMPRESSIONS[compression](data)
    except (OSError, EOFError, ValueError, lzma.LZMAError) as e:
        raise DataError(f"{path}: cannot decompress it as {compression} ({e}); check that the file really is "
                        f"{compression[1:]}-compressed or rename it") from None


def _decode(path: Path, data: bytes, compression: str | None) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 byte-order mark (Windows "Unicode" exports)
        raise DataError(f"{path}: the file is UTF-16 (it starts with a UTF-16 byte-order mark); re-encode it as "
                        f"UTF-8, e.g. iconv -f UTF-16 -t UTF-8 '{path}' > utf8-{path.name}")
    try:
        return data.decode("utf-8-sig")  # -sig: a byte-order mark from Excel is not part of the header
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        where = " (after decompression)" if compression else ""
        raise DataError(f"{path}: line {line}, byte offset {e.start}{where}: byte 0x{data[e.start]:02x} is not "
                        f"UTF-8; re-encode the file, e.g. iconv -f latin1 -t utf-8 '{path}' > utf8-{path.name}"
                        ) from None


def _frame(path: Path, columns: list[str], records: list, index: list[int], kind: str, *, by_row: bool):
    import pandas as pd

    if not records:
        raise DataError(f"{path}: has a header ({', '.join(columns)}) but no data rows; add rows below it")
    if by_row:  # CSV: records are lists of cells
        data = {c: list(values) for c, values in zip(columns, zip(*records))}
        frame = pd.DataFrame(data, index=pd.Index(index, name=kind))
    else:  # JSON: records are dicts; object dtype keeps 1 and "1" and None apart
        data = {c: [r.get(c) for r in records] for c in columns}
        frame = pd.DataFrame(data, index=pd.Index(index, name=kind), dtype=object)
    frame.attrs["row_kind"] = kind
    return frame


def _check_unique(path: Path, names: list[str], where: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(f"{path}: {where}: column '{name}' appears twice (columns {seen[name] + 1} and {i + 1}); "
                            "rename one so every column name is unique")
        seen[name] = i


def _read_delimited(path: Path, text: str, delimiter: str):
    try:
        return _parse_delimited(path, text, delimiter, csv.QUOTE_MINIMAL)
    except csv.Error:
        if delimiter != "\t":
            raise _quote_error(path, text, delimiter) from None
        # Many TSVs (GLUE among them) use no quoting at all, so a lone '"' is just a character.
        return _parse_delimited(path, text, delimiter, csv.QUOTE_NONE)


def _parse_delimited(path: Path, text: str, delimiter: str, quoting: int):
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long documents exceed the 128 KiB default
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    header: list[str] | None = None
    records, lines, previous = [], [], 0
    sep = "a tab" if delimiter == "\t" else f"'{delimiter}'"
    for record in reader:
        start, previous = previous + 1, reader.line_num  # a quoted field may span several lines
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # blank line
        if header is None:
            header = [c.strip() or f"column_{i + 1}" for i, c in enumerate(record)]
            _check_unique(path, header, f"line {start} (header)")
            continue
        if len(record) != len(header):
            fields = f"{len(record)} field" + ("s" if len(record) != 1 else "")
            raise DataError(f"{path}: line {start} has {fields} but the header has {len(header)} "
                            f"({', '.join(header)}); quote fields that contain {sep} or fix the line")
        records.append(record)
        lines.append(start)
    return _frame(path, header or [], records, lines, "line", by_row=True)


def _quote_error(path: Path, text: str, delimiter: str) -> DataError:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        for _ in reader:
            pass
    except csv.Error as e:
        return DataError(f"{path}: line {reader.line_num}: badly quoted field ({e}); a field that starts with '\"' "
                         "must end with '\"' and inner quotes must be doubled (\"\")")
    return DataError(f"{path}: badly quoted fields; check the quoting")  # pragma: no cover - not reached


def _read_lines(path: Path, text: str):
    """Plain text: one record per non-blank line, no header; the single column is `text`."""
    lines = text.split("\n")
    kept = [i for i, line in enumerate(lines, 1) if line.strip()]
    return _frame(path, ["text"], [[lines[i - 1].rstrip("\r")] for i in kept], kept, "line", by_row=True)


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _DuplicateKey(next(k for k in keys if keys.count(k) > 1))
    return dict(pairs)


def _read_json(path: Path, text: str):
    """JSON lines (one object per line); a .json file holding one [array] of objects works too."""
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)
    records, lines = [], []
    if text.lstrip().startswith("["):
        for line, obj in _json_array(path, text, decoder):
            records.append(_check_object(path, line, obj))
            lines.append(line)
    else:
        for line, raw in enumerate(text.split("\n"), 1):  # not splitlines(): JSON allows raw U+2028
            if not raw.strip():
                continue
            try:
                obj = decoder.decode(raw)
            except _DuplicateKey as e:
                raise DataError(f"{path}: line {line}: key '{e}' appears twice in the object; keep one") from None
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: line {line} is not valid JSON ({e.msg} at column {e.colno}); each line "
                                'must hold one object like {"text": "...", "label": "..."}') from None
            records.append(_check_object(path, line, obj))
            lines.append(line)
    columns: dict[str, None] = {}  # union of keys, in order of first appearance
    for record in records:
        columns.update(dict.fromkeys(record))
    _check_unique(path, [str(c) for c in columns], "keys")
    return _frame(path, list(columns), records, lines, "line", by_row=False)


def _check_object(path: Path, line: int, obj):
    if not isinstance(obj, dict):
        raise DataError(f"{path}: line {line} holds a JSON {type(obj).__name__}, not an object; write one object "
                        'per line like {"text": "...", "label": "..."}')
    return obj


def _json_array(path: Path, text: str, decoder: json.JSONDecoder):
    """Yield (line, element) of a top-level JSON array, keeping each element's starting line."""
    i, n = text.index("[") + 1, len(text)
    position = {"line": 1, "at": 0}

    def line_at(j: int) -> int:  # positions only move forward, so count newlines incrementally
        position["line"] += text.count("\n", position["at"], j)
        position["at"] = j
        return position["line"]

    def skip(j: int) -> int:
        while j < n and text[j] in " \t\r\n":
            j += 1
        return j

    i = skip(i)
    while i < n and text[i] != "]":
        line = line_at(i)
        try:
            obj, i = decoder.raw_decode(text, i)
        except (json.JSONDecodeError, _DuplicateKey) as e:
            raise DataError(f"{path}: line {line}: not valid JSON ({e}); fix the element starting there") from None
        yield line, obj
        i = skip(i)
        if i < n and text[i] == ",":
            i = skip(i + 1)
        elif i >= n or text[i] != "]":
            raise DataError(f"{path}: line {line_at(min(i, n))}: expected ',' or ']' after an array element; "
                            "fix the JSON")


def _read_parquet(path: Path):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: not a readable Parquet file ({e}); re-export it, or use CSV/JSONL") from None
    names = [str(n) for n in table.schema.names]
    _check_unique(path, names, "schema")
    if table.num_rows == 0:
        raise DataError(f"{path}: has columns ({', '.join(names)}) but no rows; add rows")
    frame = table.to_pandas()
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # a saved pandas index (e.g. 'id') becomes a column again
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")  # Parquet has no lines: 1-based row numbers
    frame.attrs["row_kind"] = "row"
    return frame
