"""Binary annotations in long form with integer codes, the input of rewards.

One row per answer ``a[i, j, k]``: annotator ``i``, case (image) ``j``, label
``k``. Names are stored once, in sorted order, and rows hold integer codes,
so every computation downstream is a ``np.bincount`` over codes rather than a
loop over rows. Both the CSV loader (:mod:`markit_core.rewards.csv_input`) and the
app (annotations read from the database) build this table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from weakref import WeakKeyDictionary

import numpy as np

from markit_core.agreement.measures import MISSING
from markit_core.errors import ValidationError

__all__ = ["AnnotationTable", "find_duplicate", "fits_dense", "index_of", "sorted_order"]

# pandas is imported lazily (only to encode plain columns): the CSV command's
# fast path does not need it, and importing it costs about a second here.
Column: TypeAlias = Sequence[Any] | np.ndarray


#: Keys below ``DENSE_FACTOR * rows + DENSE_SLACK`` are counted in a dense array (one
#: ``bincount``) instead of sorted: the usual case, since every reader answers most
#: (case, label) items.
DENSE_FACTOR = 4
DENSE_SLACK = 1 << 16


def fits_dense(n_keys: int, n_rows: int) -> bool:
    """Whether non-negative keys below ``n_keys`` are few enough to count in a dense array."""
    return n_keys <= DENSE_FACTOR * n_rows + DENSE_SLACK


def find_duplicate(keys: np.ndarray, n_keys: int | None = None) -> tuple[int, int] | None:
    """Return ``(first, duplicate)`` row positions of the earliest repeated key.

    ``duplicate`` is the first row (in input order) whose key already
    appeared; ``first`` is where it appeared. ``None`` when keys are unique.
    O(n log n), no Python loop over rows; with ``n_keys`` (keys known to lie in
    ``[0, n_keys)``) a dense count answers the usual "no duplicate" in O(n).
    """
    if not keys.size:
        return None
    dense = n_keys is not None and fits_dense(n_keys, keys.shape[0])
    if dense and np.bincount(keys, minlength=n_keys or 0).max() <= 1:
        return None
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    if not same.any():
        return None
    dup_rows = order[1:][same]
    dup = int(dup_rows.min())
    first = int(order[np.searchsorted(sorted_keys, keys[dup], side="left")])
    return first, dup


def index_of(names: Sequence[str], queries: Column) -> np.ndarray:
    """Position of each query in ``names`` (-1 when absent), vectorised."""
    ref = np.asarray(names, dtype=str)
    q = np.asarray(queries, dtype=str)
    if ref.size == 0:
        return np.full(q.shape, -1, dtype=np.intp)
    order = np.argsort(ref)
    sorted_ref = ref[order]
    pos = np.clip(np.searchsorted(sorted_ref, q), 0, ref.size - 1)
    return np.where(sorted_ref[pos] == q, order[pos], -1).astype(np.intp)


def _encode(values: Column) -> tuple[np.ndarray, tuple[str, ...]]:
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values, dtype=object).astype(str), sort=True)
    return codes.astype(np.intp), tuple(str(u) for u in uniques)


@dataclass(frozen=True, eq=False)
class AnnotationTable:
    """Encoded binary annotations.

    Attributes
    ----------
    annotator, case, label : (n,) intp
        Codes into ``annotators``, ``cases`` and ``labels``.
    value : (n,) bool
        The answers.
    annotators, cases, labels : tuple of str
        Names, sorted.
    seconds : (n,) float, optional
        Labelling time of each answer; NaN where not timed.
    confidence : (n,) float, optional
        Confidence grade 0..100 of each answer; NaN where none was given.
    """

    annotator: np.ndarray
    case: np.ndarray
    label: np.ndarray
    value: np.ndarray
    annotators: tuple[str, ...]
    cases: tuple[str, ...]
    labels: tuple[str, ...]
    seconds: np.ndarray | None = None
    confidence: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.value.shape[0]
        for name in ("annotator", "case", "label", "seconds", "confidence"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n,):
                raise ValidationError(f"column {name!r} has shape {arr.shape}, expected ({n},)")
        for codes, names, what in (
            (self.annotator, self.annotators, "annotator"),
            (self.case, self.cases, "case"),
            (self.label, self.labels, "label"),
        ):
            if n and (codes.min() < 0 or codes.max() >= len(names)):
                raise ValidationError(f"{what} codes out of range")

    @classmethod
    def from_columns(
        cls,
        case_ids: Column,
        labels: Column,
        annotators: Column,
        values: Column,
        *,
        seconds: Column | None = None,
        confidence: Column | None = None,
    ) -> AnnotationTable:
        """Build a table from plain columns (e.g. rows read from the database).

        Raises :class:`ValidationError` on a repeated (case, label, annotator),
        since a second answer to the same question has no defined meaning in
        Algorithm 1.
        """
        case, case_names = _encode(case_ids)
        label, label_names = _encode(labels)
        annot, annot_names = _encode(annotators)
        value = np.asarray(values, dtype=bool)
        table = cls(
            annotator=annot,
            case=case,
            label=label,
            value=value,
            annotators=annot_names,
            cases=case_names,
            labels=label_names,
            seconds=None if seconds is None else np.asarray(seconds, dtype=np.float64),
            confidence=None if confidence is None else np.asarray(confidence, dtype=np.float64),
        )
        table._check_unique()
        return table

    @classmethod
    def from_codes(
        cls,
        case: np.ndarray,
        label: np.ndarray,
        annotator: np.ndarray,
        values: np.ndarray,
        *,
        cases: Sequence[str],
        labels: Sequence[str],
        annotators: Sequence[str],
        seconds: np.ndarray | None = None,
        confidence: np.ndarray | None = None,
        unique: bool = False,
    ) -> AnnotationTable:
        """Build a table from integer codes into sorted name tuples (no per-row strings).

        The bulk form of :meth:`from_columns`: ``from_codes`` on the codes and
        names ``from_columns`` would derive gives the same table, so the names
        must be unique and sorted (:class:`ValidationError` otherwise), and a
        repeated (case, label, annotator) raises as there. ``unique=True``
        skips that check where the rows are distinct by construction (the
        cells of a dense array).
        """
        names = [tuple(str(x) for x in cases), tuple(str(x) for x in labels)]
        names.append(tuple(str(x) for x in annotators))
        for what, tup in zip(("case", "label", "annotator"), names, strict=True):
            if any(a >= b for a, b in zip(tup, tup[1:], strict=False)):
                raise ValidationError(f"{what} names must be unique and sorted")
        table = cls(
            annotator=np.asarray(annotator, dtype=np.intp),
            case=np.asarray(case, dtype=np.intp),
            label=np.asarray(label, dtype=np.intp),
            value=np.asarray(values, dtype=bool),
            annotators=names[2],
            cases=names[0],
            labels=names[1],
            seconds=None if seconds is None else np.asarray(seconds, dtype=np.float64),
            confidence=None if confidence is None else np.asarray(confidence, dtype=np.float64),
        )
        if not unique:
            table._check_unique()
        return table

    def _check_unique(self) -> None:
        """ValidationError naming the first repeated (case, label, annotator)."""
        n_keys = len(self.cases) * len(self.labels) * len(self.annotators)
        dup = find_duplicate(self.answer_key(), n_keys)
        if dup is not None:
            j = dup[1]
            raise ValidationError(
                "duplicate answer for (case, label, annotator) = "
                f"({self.cases[self.case[j]]!r}, {self.labels[self.label[j]]!r}, "
                f"{self.annotators[self.annotator[j]]!r})"
            )

    @property
    def n_annotations(self) -> int:
        """Number of answers (rows)."""
        return int(self.value.shape[0])

    def derived(self, name: str, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per table: figures every reward rule needs alike.

        Arrays come back read-only, so a caller cannot change what the next
        caller sees (the table's columns are not to be changed either). A reward
        run computes parts in parallel threads; one that asks for a figure
        another is building waits for it instead of building it again.
        """
        with _DERIVED_LOCK:
            cache = _DERIVED.setdefault(self, {})
            building = _BUILDING.setdefault(self, {}).setdefault(name, threading.Lock())
        with building:
            if name not in cache:
                value = build()
                if isinstance(value, np.ndarray):
                    value.flags.writeable = False
                cache[name] = value
        return cache[name]

    def item_index(self) -> np.ndarray:
        """Flat (case, label) item code of each row: ``case * n_labels + label``."""
        return self.derived("item", lambda: self.case * len(self.labels) + self.label)

    def cell_index(self) -> np.ndarray:
        """Flat (annotator, label) cell code of each row: ``annotator * n_labels + label``."""
        return self.derived("cell", lambda: self.annotator * len(self.labels) + self.label)

    def answer_key(self) -> np.ndarray:
        """Flat (case, label, annotator) code of each row (unique in a valid table)."""
        return self.derived(
            "answer_key",
            lambda: (
                self.item_index().astype(np.int64, copy=False) * len(self.annotators)
                + self.annotator
            ),
        )

    def answer_code(self) -> np.ndarray:
        """``item * 2 + value`` of each row: the item and what the answer said, as one code."""
        return self.derived("answer", lambda: self.item_index() * 2 + self.value)

    def reference_matrix(
        self,
        case_ids: Column,
        labels: Column,
        values: Column,
    ) -> np.ndarray:
        """Dense ``(n_cases, n_labels)`` int8 reference (AI, adjudication) in this table's codes.

        Coded 1 / 0 / -1 (missing). References to cases or labels the table
        does not have are ignored; a repeated (case, label) raises
        :class:`ValidationError`.
        """
        case_pos = index_of(self.cases, case_ids)
        label_pos = index_of(self.labels, labels)
        value = np.asarray(values, dtype=bool)
        known = (case_pos >= 0) & (label_pos >= 0)
        flat = case_pos[known].astype(np.int64) * len(self.labels) + label_pos[known]
        dup = find_duplicate(flat)
        if dup is not None:
            raise ValidationError("duplicate reference for one (case, label)")
        out = np.full(len(self.cases) * len(self.labels), MISSING, dtype=np.int8)
        out[flat] = value[known]
        return out.reshape(len(self.cases), len(self.labels))

    def dense(self, label: int | str) -> np.ndarray:
        """``values[annotator, case]`` (1 / 0 / -1) of one label, for the agreement functions."""
        k = self.labels.index(label) if isinstance(label, str) else int(label)
        rows = self.label == k
        out = np.full((len(self.annotators), len(self.cases)), MISSING, dtype=np.int8)
        out[self.annotator[rows], self.case[rows]] = self.value[rows]
        return out


#: What :meth:`AnnotationTable.derived` computed, per table (kept outside the
#: instance so ``table.__dict__`` holds just the fields); gone with the table.
_DERIVED: WeakKeyDictionary[AnnotationTable, dict[str, Any]] = WeakKeyDictionary()
_BUILDING: WeakKeyDictionary[AnnotationTable, dict[str, threading.Lock]] = WeakKeyDictionary()
_DERIVED_LOCK = threading.Lock()


def sorted_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """The permutation that sorts ``keys`` (in ``[0, n_keys)``), stable.

    Unique keys in a small range are placed by one scatter instead of a sort;
    repeated keys (an invalid table, reported by the caller) take the sort.
    """
    if fits_dense(n_keys, keys.shape[0]):
        slot = np.full(n_keys, -1, dtype=np.intp)
        slot[keys] = np.arange(keys.shape[0])
        order = slot[slot >= 0]
        if order.shape[0] == keys.shape[0]:
            return order
    return np.argsort(keys, kind="stable")
