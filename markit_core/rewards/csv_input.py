"""CSV input of the rewards command: annotations, AI references, label times.

Formats (header names are case-insensitive; other columns are ignored):

- annotations: ``case_id,label,annotator,value`` (+ optional ``confidence``
  0..100 and ``seconds``); ``value`` is true/false, 1/0 or yes/no in any case.
- AI references: ``case_id,label`` and either ``ai_probability`` (0..1,
  positive when >= 0.5) or ``ai_value`` (as ``value``). A blank cell means
  "no AI reference for this item" (an AI that covers only some labels or
  cases); quality control then uses only the items that have one. References
  to cases or labels absent from the annotations are ignored.
- adjudications: ``case_id,label,value`` (a reviewer's final answer; blank
  value = none), for the "adjudication where available" truth rule.
- label times: ``label,mean_seconds``, one row for every label of the
  annotations and no other label.

Every problem raises :class:`InputFileError` with a one-line message
``FILE: line N: problem`` (header = line 1). Parsing and validation are
vectorised (see :mod:`markit_core.rewards.csv_columns`) so a million-row file loads
in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from markit_core.agreement.measures import MISSING
from markit_core.errors import InputFileError
from markit_core.rewards.csv_columns import Columns, StringColumn, read_columns
from markit_core.rewards.table import AnnotationTable, find_duplicate, index_of

__all__ = [
    "load_adjudication",
    "load_ai_reference",
    "load_annotations",
    "load_label_times",
    "parse_bool_words",
]

_WORDS: dict[str, int] = {"true": 1, "1": 1, "yes": 1, "false": 0, "0": 0, "no": 0}


def parse_bool_words(words: np.ndarray) -> np.ndarray:
    """Map true/false, 1/0, yes/no (any case) to 1/0 and anything else to -1."""
    return np.asarray([_WORDS.get(str(w).strip().lower(), -1) for w in words], dtype=np.int8)


def _booleans(cols: Columns, column: str) -> np.ndarray:
    return _words(cols, column, blank_ok=False) == 1


def _words(cols: Columns, column: str, *, blank_ok: bool) -> np.ndarray:
    """1 / 0 per row, and -1 (missing) for a blank cell when ``blank_ok``."""
    col = cols.strings[column]
    vals = parse_bool_words(col.uniques)[col.codes]
    blank = (col.uniques == "")[col.codes]
    bad = cols.first_row((vals < 0) & ~(blank & blank_ok))
    if bad is not None:
        word = col.uniques[col.codes[bad]]
        if word == "":
            raise cols.fail(bad, f"empty {column}")
        raise cols.fail(bad, f"unknown {column} {word!r} (use true/false, 1/0 or yes/no)")
    return vals


def _ids(cols: Columns, column: str) -> StringColumn:
    """The column with empty values rejected and names sorted."""
    col = cols.strings[column]
    empty = np.flatnonzero(col.uniques == "")
    if empty.size:
        bad = cols.first_row(col.codes == empty[0])
        if bad is not None:
            raise cols.fail(bad, f"empty {column}")
    order = np.argsort(col.uniques.astype(str), kind="stable")
    rank = np.empty(order.size, dtype=np.intp)
    rank[order] = np.arange(order.size)
    return StringColumn(rank[col.codes], col.uniques[order])


def _check_range(
    cols: Columns, column: str, arr: np.ndarray, low: float, high: float, *, required: bool
) -> None:
    missing = np.isnan(arr)
    if required:
        bad = cols.first_row(missing)
        if bad is not None:
            raise cols.fail(bad, f"empty {column}")
    with np.errstate(invalid="ignore"):
        out = ~missing & ~((arr >= low) & (arr <= high))
    bad = cols.first_row(out)
    if bad is not None:
        span = f"between {low:g} and {high:g}" if np.isfinite(high) else f">= {low:g} and finite"
        raise cols.fail(bad, f"{column} {float(arr[bad]):g} must be {span}")


def _no_duplicates(
    cols: Columns, keys: np.ndarray, what: str, describe: list[StringColumn]
) -> None:
    dup = find_duplicate(keys)
    if dup is None:
        return
    first, again = dup
    names = ", ".join(repr(str(c.uniques[c.codes[again]])) for c in describe)
    raise cols.fail(
        again, f"duplicate {what} ({names}), first given on line {int(cols.lines[first])}"
    )


def load_annotations(path: str | Path) -> AnnotationTable:
    """Read an annotations CSV into an :class:`AnnotationTable`.

    Raises
    ------
    InputFileError
        Missing column, empty file, unknown value, empty id, non-numeric or
        negative ``seconds``, ``confidence`` outside 0..100, or a repeated
        (case_id, label, annotator).
    """
    cols = read_columns(
        path,
        ("case_id", "label", "annotator", "value"),
        ("confidence", "seconds"),
        numeric=frozenset({"confidence", "seconds"}),
    )
    case, label, annot = _ids(cols, "case_id"), _ids(cols, "label"), _ids(cols, "annotator")
    value = _booleans(cols, "value")
    seconds = cols.numbers.get("seconds")
    if seconds is not None:
        _check_range(cols, "seconds", seconds, 0.0, np.inf, required=False)
    confidence = cols.numbers.get("confidence")
    if confidence is not None:
        _check_range(cols, "confidence", confidence, 0.0, 100.0, required=False)
    n_k, n_i = label.uniques.size, annot.uniques.size
    key = (case.codes.astype(np.int64) * n_k + label.codes) * n_i + annot.codes
    _no_duplicates(cols, key, "answer for (case_id, label, annotator) =", [case, label, annot])
    return AnnotationTable(
        annotator=annot.codes,
        case=case.codes,
        label=label.codes,
        value=value,
        annotators=tuple(str(x) for x in annot.uniques),
        cases=tuple(str(x) for x in case.uniques),
        labels=tuple(str(x) for x in label.uniques),
        seconds=seconds,
        confidence=confidence,
    )


def load_ai_reference(path: str | Path, table: AnnotationTable) -> np.ndarray:
    """Read AI references into a dense ``(n_cases, n_labels)`` int8 array (1 / 0 / -1).

    A blank ``ai_probability`` / ``ai_value`` cell leaves that item without
    a reference (-1), as does an item the file does not list.

    Raises
    ------
    InputFileError
        Neither or both of ``ai_probability`` / ``ai_value``, a probability
        outside 0..1, an unknown ``ai_value``, or a repeated (case_id, label).
    """
    cols = read_columns(
        path,
        ("case_id", "label"),
        ("ai_probability", "ai_value"),
        numeric=frozenset({"ai_probability"}),
    )
    has_p, has_v = "ai_probability" in cols.numbers, "ai_value" in cols.strings
    if has_p == has_v:
        problem = "has both" if has_p else "needs a column"
        raise InputFileError(f"{cols.name}: line 1: {problem} 'ai_probability' or 'ai_value'")
    case, label = _ids(cols, "case_id"), _ids(cols, "label")
    if has_p:
        prob = cols.numbers["ai_probability"]
        _check_range(cols, "ai_probability", prob, 0.0, 1.0, required=False)
        value = np.where(np.isnan(prob), MISSING, prob >= 0.5).astype(np.int8)
    else:
        value = _words(cols, "ai_value", blank_ok=True)
    key = case.codes.astype(np.int64) * label.uniques.size + label.codes
    _no_duplicates(cols, key, "AI reference for (case_id, label) =", [case, label])
    return _dense(table, case, label, value)


def _dense(
    table: AnnotationTable, case: StringColumn, label: StringColumn, value: np.ndarray
) -> np.ndarray:
    """(n_cases, n_labels) int8 in the table's codes; unknown cases / labels are ignored."""
    case_pos = index_of(table.cases, case.uniques)[case.codes]
    label_pos = index_of(table.labels, label.uniques)[label.codes]
    known = (case_pos >= 0) & (label_pos >= 0)
    out = np.full((len(table.cases), len(table.labels)), MISSING, dtype=np.int8)
    out[case_pos[known], label_pos[known]] = value[known]
    return out


def load_adjudication(path: str | Path, table: AnnotationTable) -> np.ndarray:
    """Read a reviewer's final answers into a dense ``(n_cases, n_labels)`` int8 array.

    Columns ``case_id,label,value``; a blank value means no adjudication.

    Raises
    ------
    InputFileError
        A missing column, an unknown value or a repeated (case_id, label).
    """
    cols = read_columns(path, ("case_id", "label", "value"))
    case, label = _ids(cols, "case_id"), _ids(cols, "label")
    value = _words(cols, "value", blank_ok=True)
    key = case.codes.astype(np.int64) * label.uniques.size + label.codes
    _no_duplicates(cols, key, "adjudication for (case_id, label) =", [case, label])
    return _dense(table, case, label, value)


def load_label_times(path: str | Path, table: AnnotationTable) -> np.ndarray:
    """Read mean labelling seconds per label, in ``table.labels`` order.

    Raises
    ------
    InputFileError
        A label the annotations do not have, a repeated label, a label of the
        annotations without a row, or an empty, negative or non-numeric time.
    """
    cols = read_columns(path, ("label", "mean_seconds"), numeric=frozenset({"mean_seconds"}))
    label = _ids(cols, "label")
    secs = cols.numbers["mean_seconds"]
    _check_range(cols, "mean_seconds", secs, 0.0, np.inf, required=True)
    pos = index_of(table.labels, label.uniques)[label.codes]
    bad = cols.first_row(pos < 0)
    if bad is not None:
        name = label.uniques[label.codes[bad]]
        raise cols.fail(bad, f"label {name!r} does not occur in the annotations")
    _no_duplicates(cols, label.codes.astype(np.int64), "row for label", [label])
    out = np.full(len(table.labels), np.nan)
    out[pos] = secs
    missing = np.flatnonzero(np.isnan(out))
    if missing.size:
        raise InputFileError(
            f"{cols.name}: line {int(cols.lines[-1]) + 1}: no row for label "
            f"{table.labels[missing[0]]!r}, which the annotations use"
        )
    return out
