"""Eq. 1 under case weights: the vectorised core of the bootstrap over cases.

A resample of the J cases is its multiplicity vector ``w`` (how often each
case was drawn); B resamples are a ``(B, J)`` matrix ``W`` and every sum over
cases becomes a product with it (see :mod:`markit_core.rewards.bootstrap`
for what is recomputed per resample). ``W`` of ones gives the full-data
result exactly.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from markit_core.agreement.measures import MISSING, kappa_from_confusion
from markit_core.rewards.engine import RewardResult
from markit_core.rewards.table import AnnotationTable
from markit_core.rewards.weighted_terms import (
    EXTRA,
    distinct_columns,
    per_case_terms,
)

__all__ = [
    "WeightedSetup",
    "case_weight_blocks",
    "case_weights",
    "ranks",
    "reward_setup",
    "rewards_of_blocks",
    "rewards_under_weights",
]


#: Bootstrap resamples are drawn and weighed a block at a time in about this many
#: bytes of weights, so memory does not grow with the number of resamples.
BLOCK_BYTES = 64 << 20
#: Per-case terms of rare exclusion patterns kept between blocks (each J x (I + 8)).
RARE_TERMS_KEPT = 32


def _draw_chunk(n_cases: int) -> int:
    """Resamples drawn per call of the generator (part of the seeded sequence: fixed)."""
    return max(1, 4_000_000 // max(n_cases, 1))


def case_weight_blocks(
    n_cases: int, n_resamples: int, seed: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[np.ndarray]:
    """The rows of :func:`case_weights`, a block of resamples at a time.

    Each block is yielded in the same buffer (use it before asking for the
    next); the draws are those of :func:`case_weights` for the same seed.
    """
    rng = np.random.default_rng(seed)
    chunk = _draw_chunk(n_cases)
    per_block = chunk * max(1, block_bytes // (8 * max(n_cases, 1) * chunk))
    buf = np.empty((min(per_block, n_resamples), n_cases), dtype=np.float64)
    for start in range(0, n_resamples, per_block):
        rows = min(per_block, n_resamples - start)
        for at in range(0, rows, chunk):
            b = min(chunk, rows - at)
            draws = rng.integers(0, n_cases, size=(b, n_cases), dtype=np.int32)
            for r in range(b):  # one count per resample: its counters stay in cache
                buf[at + r] = np.bincount(draws[r], minlength=n_cases)
        yield buf[:rows]


def case_weights(n_cases: int, n_resamples: int, seed: int) -> np.ndarray:
    """(B, J) multiplicities of B resamples of J cases drawn with replacement."""
    out = np.empty((n_resamples, n_cases), dtype=np.float64)
    start = 0
    for block in case_weight_blocks(n_cases, n_resamples, seed):
        out[start : start + block.shape[0]] = block
        start += block.shape[0]
    return out


@dataclass(frozen=True, eq=False)
class WeightedSetup:
    """The fixed inputs of every resample."""

    table: AnnotationTable
    ai: np.ndarray | None
    kappa_threshold: float
    truth_rule: str
    fixed_truth: np.ndarray  # (J, K) int8: Dawid-Skene pseudo answers, held fixed
    adjudicated: np.ndarray | None
    label_seconds: np.ndarray | None
    trusted_ai_only: bool
    trust_level: float
    budget: float
    label_rows: tuple[np.ndarray, ...]  # answer rows of each label
    # What does not depend on the weights, kept across blocks of resamples (blocks are
    # weighed in parallel threads: the lock guards it).
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)


def _paper_exclusions(s: WeightedSetup, w: np.ndarray) -> np.ndarray:
    """(B, I, K) pairs the paper's rule excludes in each resample."""
    t = s.table
    n_b, n_i, n_k = w.shape[0], len(t.annotators), len(t.labels)
    if s.ai is None:
        return np.zeros((n_b, n_i, n_k), dtype=bool)
    # Integer counts: exact in float32 below 2**24, and half the memory traffic.
    exact = w.max(initial=0) * len(t.cases) < 2**24
    dtype = np.float32 if exact else np.float64
    with s.lock:
        per_case = s.cache.get(("ai_counts", dtype))
        if per_case is None:
            per_case = s.cache[("ai_counts", dtype)] = _ai_counts(s).astype(dtype)
    c = (w.astype(dtype, copy=False) @ per_case).astype(np.float64)
    c = c.reshape(n_b, n_i * n_k, 4)  # (answer, ai) = 00, 01, 10, 11
    kappa = kappa_from_confusion(c[..., 3], c[..., 2], c[..., 1], c[..., 0])
    shared = c.sum(axis=-1)
    return ((shared > 0) & ~(kappa > s.kappa_threshold)).reshape(n_b, n_i, n_k)


def _ai_counts(s: WeightedSetup) -> np.ndarray:
    """(J, 4 I K) per case: each pair's answers by (answer, AI) class."""
    t = s.table
    n_i, n_k = len(t.annotators), len(t.labels)
    assert s.ai is not None
    ref = s.ai.ravel()[t.item_index()]
    has = ref != MISSING
    code = (t.cell_index() * 4 + t.value * 2 + (ref == 1))[has]
    return np.bincount(
        t.case[has] * (4 * n_i * n_k) + code, minlength=len(t.cases) * 4 * n_i * n_k
    ).reshape(len(t.cases), 4 * n_i * n_k)


def _label_sums(
    s: WeightedSetup, w: np.ndarray, patterns: dict[int, np.ndarray]
) -> dict[int, np.ndarray]:
    """Weighted per-label sums (B, I + 8) for each label's (B, I) exclusion patterns.

    The per-case terms of every (label, distinct pattern) that many resamples
    share are stacked side by side and multiplied by ``W`` in one matrix
    product (one pass over the weights for all labels); the terms of rare
    patterns are multiplied by just the rows of their few resamples.
    """
    n_b, width = w.shape[0], len(s.table.annotators) + EXTRA
    out = {k: np.empty((n_b, width)) for k in patterns}
    targets: list[tuple[int, np.ndarray, np.ndarray]] = []  # label, pattern, resamples
    for k, pat in patterns.items():
        uniq, inverse = np.unique(pat, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        for p in range(uniq.shape[0]):
            rows = np.flatnonzero(inverse == p)
            if rows.size * 16 >= n_b:
                targets.append((k, uniq[p], rows))
            else:
                out[k][rows] = w[rows] @ _label_terms(s, k, uniq[p])
    if targets:
        matrix, index = _stacked_terms(s, targets)
        products = w @ matrix
        for (k, _, rows), where in zip(targets, index, strict=True):
            block = np.zeros((rows.shape[0], width))
            used = where >= 0
            block[:, used] = products[np.ix_(rows, where[used])]
            out[k][rows] = block
    return out


def _stacked_terms(
    s: WeightedSetup, targets: list[tuple[int, np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct per-case term columns of the common (label, pattern) targets."""
    key = tuple((k, pat.tobytes()) for k, pat, _ in targets)
    with s.lock:
        last_key, both = s.cache.get("stacked", (None, None))
        if last_key != key or both is None:
            # Only the last product's columns are kept (the next block usually has
            # the same patterns); the terms are built again if a pattern turns rare.
            s.cache.pop("stacked", None)
            stacked = [per_case_terms(s, k, pat) for k, pat, _ in targets]
            both = distinct_columns(stacked)
            del stacked
            s.cache["stacked"] = (key, both)
    matrix, index = both
    return matrix, index


def _label_terms(s: WeightedSetup, k: int, dropped: np.ndarray) -> np.ndarray:
    """:func:`per_case_terms` of one label, kept for the next block of resamples."""
    key = ("terms", k, dropped.tobytes())
    with s.lock:
        terms = s.cache.get(key)
        if terms is None:
            if len(s.cache) > RARE_TERMS_KEPT:  # bounded: forget the rare patterns seen so far
                for old in [c for c in s.cache if isinstance(c, tuple) and c[0] == "terms"]:
                    del s.cache[old]
            terms = s.cache[key] = per_case_terms(s, k, dropped)
    return terms


def _trusted(s: WeightedSetup, sums: np.ndarray) -> np.ndarray:
    """(B,) whether the AI's kappa vs the pseudo answers reaches the trust level."""
    n_i = len(s.table.annotators)
    cells = [sums[:, n_i + 4 + c] for c in range(4)]
    return kappa_from_confusion(*cells) >= s.trust_level


def rewards_under_weights(s: WeightedSetup, w: np.ndarray) -> np.ndarray:
    """(B, I) rewards of each weighted resample (NaN rows where no score is positive)."""
    t = s.table
    n_b, n_i, n_k = w.shape[0], len(t.annotators), len(t.labels)
    excluded = _paper_exclusions(s, w)
    sums_by_label = _label_sums(s, w, {k: excluded[:, :, k] for k in range(n_k)})
    if s.trusted_ai_only:
        # Re-judge the gate per resample on the paper-rule consensus, then redo the
        # labels where it lifts an exclusion in some resample.
        gated = {k: excluded[:, :, k] & _trusted(s, sums_by_label[k])[:, None] for k in range(n_k)}
        redo = {k: g for k, g in gated.items() if not np.array_equal(g, excluded[:, :, k])}
        sums_by_label.update(_label_sums(s, w, redo))
    dr = np.zeros((n_b, n_i, n_k))
    pos, ans, tsum, tcnt = (np.zeros((n_b, n_k)) for _ in range(4))
    for k in range(n_k):
        sums = sums_by_label[k]
        dr[:, :, k] = sums[:, :n_i]
        pos[:, k], ans[:, k] = sums[:, n_i], sums[:, n_i + 1]
        tsum[:, k], tcnt[:, k] = sums[:, n_i + 2], sums[:, n_i + 3]
    task_value = np.divide(pos, ans, out=np.zeros_like(pos), where=ans > 0)
    if s.label_seconds is not None:
        means = np.broadcast_to(s.label_seconds, (n_b, n_k))
    else:
        means = np.divide(tsum, tcnt, out=np.zeros_like(tsum), where=tcnt > 0)
    top = means.max(axis=1, keepdims=True) if n_k else np.zeros((n_b, 1))
    tbar = np.divide(means, top, out=np.zeros_like(means), where=top > 0)
    scores = ((task_value + tbar)[:, None, :] * dr).sum(axis=2)
    paid = np.maximum(scores, 0.0)
    total = paid.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, s.budget * paid / total, np.nan)


def rewards_of_blocks(
    s: WeightedSetup, blocks: Iterable[np.ndarray], workers: int = 2
) -> np.ndarray:
    """(B, I) :func:`rewards_under_weights` of every block of weights, in order.

    The first block fills the caches every block shares (the per-case terms);
    the others are weighed by ``workers`` threads (numpy and BLAS release the
    GIL) while the next blocks are drawn, at most ``workers`` in flight so
    memory stays a few blocks. Each block is copied (the generator of
    :func:`case_weight_blocks` reuses its buffer).
    """
    it = iter(blocks)
    first = next(it, None)
    if first is None:
        return np.empty((0, len(s.table.annotators)))
    parts = [rewards_under_weights(s, first)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bootstrap") as pool:
        pending: deque[Future[np.ndarray]] = deque()
        for w in it:
            pending.append(pool.submit(rewards_under_weights, s, w.copy()))
            while len(pending) >= workers:
                parts.append(pending.popleft().result())
        parts.extend(f.result() for f in pending)
    return np.concatenate(parts)


def ranks(rewards: np.ndarray) -> np.ndarray:
    """1 + number of annotators with a strictly higher reward, per row."""
    return 1 + (rewards[:, None, :] > rewards[:, :, None]).sum(axis=2)


def reward_setup(
    table: AnnotationTable,
    result: RewardResult,
    ai: np.ndarray | None,
    adjudicated: np.ndarray | None,
    label_seconds: np.ndarray | None,
    trusted_ai_only: bool,
    trust_level: float,
) -> WeightedSetup:
    return WeightedSetup(
        table=table,
        ai=None if ai is None else np.asarray(ai, dtype=np.int8),
        kappa_threshold=result.kappa_threshold,
        truth_rule=result.truth_rule,
        fixed_truth=result.consensus,
        adjudicated=None if adjudicated is None else np.asarray(adjudicated, dtype=np.int8),
        label_seconds=None if label_seconds is None else np.asarray(label_seconds, float),
        trusted_ai_only=bool(trusted_ai_only and ai is not None),
        trust_level=float(trust_level),
        budget=result.budget,
        label_rows=_rows_by_label(table),
    )


def _rows_by_label(table: AnnotationTable) -> tuple[np.ndarray, ...]:
    # A stable sort of small codes is numpy's radix sort (linear); same order as on intp.
    small = len(table.labels) <= np.iinfo(np.uint16).max + 1
    order = np.argsort(table.label.astype(np.uint16) if small else table.label, kind="stable")
    counts = np.bincount(table.label, minlength=len(table.labels))
    return tuple(np.split(order, np.cumsum(counts)[:-1]))
