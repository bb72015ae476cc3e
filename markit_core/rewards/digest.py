"""The SHA-256 a reward run stores of the answers it was computed on, in bulk.

The definition (unchanged since runs were first stored): the UTF-8 text of
one ``case,label,annotator,value`` line per answer, written as pandas'
``DataFrame.to_csv`` (Python's csv module, minimal quoting, ``\\n`` line ends)
writes the integer case id, the label and annotator names and ``True`` /
``False``, with the lines sorted by (case id as a number, label, annotator).

Writing 10^7 such lines one by one takes half a minute. Here each line is two
tokens, ``"<case id>,"`` (one per case) and ``"<label>,<annotator>,<value>\\n"``
(one per label x annotator x value), padded with zero bytes to whole 8-byte
words: a block of sorted answers becomes one ``uint64`` matrix by two gathers,
the padding is dropped by one boolean mask, and the bytes go to the hash a
block at a time. The bytes hashed are exactly those of the definition (the
tests compare both on random tables with awkward names).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence

import numpy as np

from markit_core.errors import ValidationError
from markit_core.rewards.table import AnnotationTable, fits_dense

__all__ = ["answers_digest", "digest_lines"]

#: Answers turned into bytes per block (about 40 MB of words at a time).
BLOCK_ROWS = 1 << 20


def _case_ids(table: AnnotationTable) -> np.ndarray:
    try:
        return np.array([int(c) for c in table.cases], dtype=np.int64)
    except ValueError as e:
        raise ValidationError(f"the input digest needs numeric case ids: {e}") from e


def _cell(text: str) -> str:
    """``text`` as the csv module writes it inside a row (minimal quoting)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["0", text])
    return buf.getvalue()[2:-1]


def _words(tokens: Sequence[bytes]) -> np.ndarray:
    """(len(tokens), W) uint64: each token's bytes, zero-padded to W whole words."""
    lengths = np.fromiter(map(len, tokens), dtype=np.intp, count=len(tokens))
    width = max(1, -(-int(lengths.max()) // 8)) if tokens else 1
    buf = np.zeros((len(tokens), width * 8), dtype=np.uint8)
    joined = np.frombuffer(b"".join(tokens), dtype=np.uint8)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)  # each byte's token start
    buf[np.repeat(np.arange(len(tokens)), lengths), np.arange(joined.size) - starts] = joined
    return buf.view(np.uint64)


def _sorted_keys(table: AnnotationTable, case_ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Each answer as ``((case rank * K + label) * I + annotator) * 2 + value``, sorted.

    Case rank is the case's position by numeric id; the second value is the
    number of codes per case (``2 K I``).
    """
    n_j, n_k, n_i = len(table.cases), len(table.labels), len(table.annotators)
    rank = np.empty(n_j, dtype=np.int64)
    rank[np.argsort(case_ids, kind="stable")] = np.arange(n_j)
    per_case = 2 * n_k * n_i
    key = rank[table.case]  # built in place: no temporaries of 10^7 elements
    key *= n_k
    key += table.label
    key *= n_i
    key += table.annotator
    key *= 2
    key += table.value
    question = key >> 1
    if (question[1:] > question[:-1]).all():  # rows already in order (how runs build them)
        return key, per_case
    n_keys = n_j * per_case
    if fits_dense(n_keys, key.shape[0]):
        seen = np.zeros(n_keys, dtype=bool)
        seen[key] = True
        out = np.flatnonzero(seen)
    else:
        out = np.sort(key)
    question = out >> 1
    if out.shape[0] != key.shape[0] or not (question[1:] > question[:-1]).all():
        raise ValidationError("the input digest needs one answer per (case, label, annotator)")
    return out, per_case


def digest_lines(table: AnnotationTable) -> list[str]:
    """The digest's lines one by one (the definition, for small tables and the tests)."""
    case_ids = _case_ids(table)
    keys, per_case = _sorted_keys(table, case_ids)
    order = np.argsort(case_ids, kind="stable")
    n_i = len(table.annotators)
    lines = []
    for key in keys.tolist():
        rank, rest = divmod(key, per_case)
        pair, value = divmod(rest, 2)
        label, annotator = divmod(pair, n_i)
        lines.append(
            f"{int(case_ids[order[rank]])},{_cell(table.labels[label])},"
            f"{_cell(table.annotators[annotator])},{bool(value)}\n"
        )
    return lines


def answers_digest(table: AnnotationTable) -> str:
    """SHA-256 hex digest of the table's answers (module docstring); case names numeric."""
    case_ids = _case_ids(table)
    keys, per_case = _sorted_keys(table, case_ids)
    order = np.argsort(case_ids, kind="stable")
    case_tokens = [f"{int(c)},".encode() for c in case_ids[order]]
    pair_tokens = [
        f"{_cell(lab)},{_cell(ann)},{val}\n".encode()
        for lab in table.labels
        for ann in table.annotators
        for val in (False, True)
    ]
    digest = hashlib.sha256()
    if any(b"\0" in t for t in pair_tokens):  # a NUL in a name: no padding byte to spare
        for line in digest_lines(table):
            digest.update(line.encode("utf-8"))
        return digest.hexdigest()
    case_words, pair_words = _words(case_tokens), _words(pair_tokens)
    wc = case_words.shape[1]
    for start in range(0, keys.shape[0], BLOCK_ROWS):
        block = keys[start : start + BLOCK_ROWS]
        rank, pair = np.divmod(block, per_case)
        words = np.empty((block.shape[0], wc + pair_words.shape[1]), dtype=np.uint64)
        words[:, :wc] = case_words[rank]
        words[:, wc:] = pair_words[pair]
        raw = words.view(np.uint8).ravel()
        digest.update(raw[raw != 0])
    return digest.hexdigest()
