"""Entity tagging schemes: parse tags, detect IOB1 / IOB2 / BIOES, convert, find entity chunks.

Everything inside transferkit uses IOB2 (every entity starts with B-, continues with I-), the
scheme seqeval and most NER models expect. Input may come in any of three schemes:

- IOB2:  B-X starts every entity; I-X continues one.          `B-PER I-PER O B-LOC`
- IOB1:  I-X starts an entity; B-X only separates two adjacent same-type entities.
                                                               `I-PER I-PER O I-LOC`
- BIOES: B-/I-/E- for multi-token entities, S- for single ones. `B-PER E-PER O S-LOC`

Problems are raised as `TagError` (a DataError) carrying the sentence and token position, so a
reader can prefix the file and line; used directly, the message still says what to fix.
"""

from __future__ import annotations

import re
from typing import Sequence

from ...errors import DataError

SCHEMES = ("iob1", "iob2", "bioes")
ALIASES = {"iob1": "iob1", "iob2": "iob2", "bio": "iob2", "bioes": "bioes", "iobes": "bioes"}
# Prefix, dash, then the type; the type may itself contain dashes (WNUT's `B-geo-loc`).
_TAG = re.compile(r"^([BIES])-(\S+)$")


class TagError(DataError):
    """A bad tag or tag sequence at (sentence, token) -- both 0-based positions."""

    def __init__(self, message: str, sentence: int, token: int):
        super().__init__(message)
        self.reason, self.sentence, self.token = message, sentence, token


def scheme_name(scheme: str) -> str:
    """'auto' or a canonical scheme name ('bio' -> 'iob2', 'iobes' -> 'bioes')."""
    key = str(scheme).strip().lower()
    if key == "auto":
        return key
    if key not in ALIASES:
        raise DataError(f"unknown tagging scheme '{scheme}'; use auto, iob1, iob2 (bio) or bioes (iobes)")
    return ALIASES[key]


def parse_tag(tag: str, sentence: int = 0, token: int = 0) -> tuple[str, str | None]:
    """('O', None) or (prefix, type), e.g. 'B-geo-loc' -> ('B', 'geo-loc'); anything else is a TagError."""
    if tag == "O":
        return "O", None
    match = _TAG.match(tag)
    if match is None:
        raise TagError(f"malformed tag '{tag}'; tags are O or B-/I-/E-/S- followed by an entity type, "
                       "e.g. B-PER", sentence, token)
    return match.group(1), match.group(2)


def _parsed(sentences: Sequence[Sequence[str]]) -> list[list[tuple[str, str | None]]]:
    return [[parse_tag(t, s, i) for i, t in enumerate(tags)] for s, tags in enumerate(sentences)]


def _starts_entity(prev: tuple[str, str | None], cur: tuple[str, str | None]) -> bool:
    """Whether `cur` (an I- tag) cannot continue `prev`: previous is O or another type."""
    return prev[0] == "O" or prev[1] != cur[1]


def detect_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """'bioes' if any E-/S- tag; 'iob1' if entities start with I- and B- only separates same-type
    neighbours; otherwise 'iob2' (also for all-O data). Orphan I- tags in data that also starts
    entities with B- count as IOB2 (with errors to report or repair), since IOB1 never does that."""
    parsed = _parsed(sentences)
    if any(p in ("E", "S") for tags in parsed for p, _ in tags):
        return "bioes"
    i_starts = b_starts = False
    for tags in parsed:
        prev: tuple[str, str | None] = ("O", None)
        for cur in tags:
            if cur[0] == "I" and _starts_entity(prev, cur):
                i_starts = True
            elif cur[0] == "B" and _starts_entity(prev, cur):
                b_starts = True  # a B- after O / another type: IOB1 would write I- there
            prev = cur
    return "iob1" if i_starts and not b_starts else "iob2"


def _iob_to_iob2(tags: list[tuple[str, str | None]], s: int, *, iob1: bool, repair: bool) -> tuple[list[str], int]:
    out, fixed, prev = [], 0, ("O", None)
    for i, (prefix, kind) in enumerate(tags):
        if prefix in ("E", "S"):
            raise TagError(f"'{prefix}-{kind}' is a BIOES tag in IOB data; pass scheme=bioes (or auto)", s, i)
        if prefix == "I" and _starts_entity(prev, (prefix, kind)):
            if not (iob1 or repair):
                after = "the sentence start" if i == 0 else ("O" if prev[0] == "O" else f"{prev[0]}-{prev[1]}")
                raise TagError(f"'I-{kind}' follows {after} instead of B-{kind}/I-{kind} (invalid IOB2); change it "
                               f"to B-{kind}, or pass repair=True (--repair-tags) to do that for every such tag", s, i)
            prefix, fixed = "B", fixed + (not iob1)
        out.append("O" if prefix == "O" else f"{prefix}-{kind}")
        prev = (prefix, kind)
    return out, fixed


def _bioes_to_iob2(tags: list[tuple[str, str | None]], s: int, *, repair: bool) -> tuple[list[str], int]:
    """B/S -> B, I/E -> I; an I-/E- that continues nothing, or a B-/I- left open, is an error unless repairing."""
    out, fixed = [], 0
    for i, (prefix, kind) in enumerate(tags):
        inside = i > 0 and tags[i - 1][0] in ("B", "I") and tags[i - 1][1] == kind
        if prefix in ("I", "E") and not inside:
            if not repair:
                raise TagError(f"'{prefix}-{kind}' does not continue a B-{kind}/I-{kind} (invalid BIOES); fix the "
                               "tag, or pass repair=True (--repair-tags) to start an entity there", s, i)
            fixed += 1
            out.append(f"B-{kind}")
            continue
        if prefix in ("B", "I"):
            nxt = tags[i + 1] if i + 1 < len(tags) else ("O", None)
            if not (nxt[0] in ("I", "E") and nxt[1] == kind):
                if not repair:
                    raise TagError(f"'{prefix}-{kind}' is not closed by I-{kind}/E-{kind} (invalid BIOES); end the "
                                   f"entity with E-{kind} (or use S-{kind} for one token), or pass repair=True", s, i)
                fixed += 1  # the entity simply ends here, which is what the tags mean anyway
        out.append("O" if prefix == "O" else f"{'B' if prefix in ('B', 'S') else 'I'}-{kind}")
    return out, fixed


def normalize_tags(sentences: Sequence[Sequence[str]], scheme: str = "auto",
                   repair: bool = False) -> tuple[list[list[str]], str, int]:
    """(IOB2 tag sentences, scheme the input was in, number of repaired tags).

    scheme='auto' detects it (see `detect_scheme`); an explicit scheme is checked. repair=True
    turns an orphan I- (IOB2) or an I-/E- continuing nothing (BIOES) into a B-, and accepts an
    unclosed BIOES entity; otherwise the first such tag raises TagError.
    """
    scheme = scheme_name(scheme)
    parsed = _parsed(sentences)
    if scheme == "auto":
        scheme = detect_scheme(sentences)
    out, fixed = [], 0
    for s, tags in enumerate(parsed):
        if scheme == "bioes":
            iob2, n = _bioes_to_iob2(tags, s, repair=repair)
        else:
            iob2, n = _iob_to_iob2(tags, s, iob1=scheme == "iob1", repair=repair)
        out.append(iob2)
        fixed += n
    return out, scheme, fixed


def iob2_to_bioes(tags: Sequence[str]) -> list[str]:
    """One IOB2 sentence in BIOES: single-token entities become S-, last tokens E-."""
    out = []
    for i, tag in enumerate(tags):
        prefix, kind = parse_tag(tag)
        continues = i + 1 < len(tags) and tags[i + 1] == f"I-{kind}"
        if prefix == "B":
            out.append(tag if continues else f"S-{kind}")
        elif prefix == "I":
            out.append(tag if continues else f"E-{kind}")
        else:
            out.append(tag)
    return out


def iob2_to_iob1(tags: Sequence[str]) -> list[str]:
    """One IOB2 sentence in IOB1: B- kept only where the previous token is the same type."""
    out = []
    for i, tag in enumerate(tags):
        prefix, kind = parse_tag(tag)
        if prefix == "B" and not (i > 0 and tags[i - 1] != "O" and parse_tag(tags[i - 1])[1] == kind):
            out.append(f"I-{kind}")
        else:
            out.append(tag)
    return out


def convert(sentences: Sequence[Sequence[str]], source: str, target: str) -> list[list[str]]:
    """Tag sentences from scheme `source` ('auto' allowed) to `target`, through IOB2."""
    iob2, _, _ = normalize_tags(sentences, source)
    target = scheme_name(target)
    if target == "iob1":
        return [iob2_to_iob1(t) for t in iob2]
    if target == "bioes":
        return [iob2_to_bioes(t) for t in iob2]
    if target == "auto":
        raise DataError("convert: target scheme must be iob1, iob2 or bioes, not auto")
    return iob2


def entity_chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first token, end token exclusive) of each entity in IOB2 tags.

    Lenient like conlleval: an I- that continues nothing starts an entity, because model
    predictions are not guaranteed to be valid IOB2.
    """
    chunks: list[tuple[str, int, int]] = []
    start, kind = None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, cur = parse_tag(tag) if tag != "O" else ("O", None)
        if start is not None and (prefix in ("O", "B", "S") or cur != kind):
            chunks.append((kind, start, i))
            start, kind = None, None
        if prefix != "O" and start is None:
            start, kind = i, cur
    return chunks
