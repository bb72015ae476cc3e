"""Quality-control diagnostics: is an exclusion a careless reader or a weak AI on a rare label?

The paper's rule (drop an (annotator, label) pair whose Cohen's kappa vs the
AI is not above 0.05) trusts the AI. On a rare label a weak AI makes kappa
vs AI meaningless: with 2-8 positive cases in 1,000 one disagreement moves
kappa by 0.1 or more, and an AI that itself agrees poorly with the readers
excludes careful readers. So, per label, this module reports what the
exclusions rest on:

* the items with an AI reference (a label without any is reported as
  "no AI reference: quality control not applied");
* on the items that have both an AI reference and a consensus, the
  prevalence by consensus and by AI, their positive counts, and the AI's own
  Cohen's kappa vs the consensus of the readers the paper's rule keeps;
* for every exclusion, the reader's kappa vs AI with a 95 % interval: the
  2.5 and 97.5 % points of kappa over 4,000 draws of the 2x2 table's cell
  shares from Dirichlet(counts + 1/2) (a Bayesian bootstrap over the shared
  items with Jeffreys' prior, seeded). Unlike the plain bootstrap over items
  (a multinomial draw from the observed shares) it does not collapse when a
  cell is empty, which is the rare-label case: a reader who misses the one
  positive the AI caught gets [-0.01, -0.002] from the plain bootstrap but
  about [-0.01, 0.19] here, which says the exclusion is not solid. Beside it,
  the Fleiss-Cohen-Everitt (1969) large-sample standard error (as
  statsmodels' ``cohens_kappa``), which shares the plain bootstrap's blind
  spot;
* warnings beside an exclusion when the AI's kappa vs consensus is below the
  trust level (default 0.4), when the label has fewer positives than a
  minimum (default 10; the smaller of the AI's and the consensus' positive
  counts, since a kappa cannot rest on more positives than the rarer side
  has), and when the kappa's interval reaches above the threshold.

:func:`rewards_with_qc` applies the optional gate (project setting
``trusted_ai_only``, off by default): quality control only on labels where
the AI is trusted. Trust is judged against the consensus of the readers the
paper's rule keeps, so it does not depend on the gate itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from markit_core.agreement.measures import MISSING, kappa_from_confusion
from markit_core.errors import ValidationError
from markit_core.rewards.engine import RewardResult, compute_rewards
from markit_core.rewards.table import AnnotationTable

__all__ = [
    "KAPPA_CI_METHOD",
    "NO_AI_REFERENCE",
    "ExclusionDiagnostics",
    "LabelDiagnostics",
    "QcDiagnostics",
    "QcSettings",
    "kappa_ci",
    "kappa_se",
    "qc_diagnostics",
    "gated_ai",
    "rewards_with_qc",
]

NO_AI_REFERENCE = "no AI reference: quality control not applied"
KAPPA_CI_METHOD = (
    "95 % interval of kappa over 4,000 draws of the 2x2 table's cell shares from "
    "Dirichlet(counts + 1/2) (Bayesian bootstrap over the shared items, Jeffreys prior, "
    "seed 0); SE: Fleiss-Cohen-Everitt (1969) large-sample standard error"
)
_KAPPA_DRAWS = 4000


@dataclass(frozen=True)
class QcSettings:
    """Quality-control settings of a project (defaults: the paper's rule plus warnings)."""

    trust_level: float = 0.4
    min_positives: int = 10
    trusted_ai_only: bool = False

    def __post_init__(self) -> None:
        if not -1.0 <= float(self.trust_level) <= 1.0:
            raise ValidationError(
                f"AI trust level must lie between -1 and 1, got {self.trust_level}"
            )
        if int(self.min_positives) < 0:
            raise ValidationError("minimum number of positives must be 0 or more")


@dataclass(frozen=True)
class ExclusionDiagnostics:
    """One excluded (annotator, label) pair with its kappa's uncertainty and the warnings."""

    annotator: str
    label: str
    kappa: float
    ci_low: float
    ci_high: float
    se: float
    shared_items: int
    reader_positives: int
    ai_positives: int
    applied: bool
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class LabelDiagnostics:
    """What quality control on one label rests on (figures NaN where undefined)."""

    label: str
    ai_items: int
    items: int
    prevalence_consensus: float
    prevalence_ai: float
    positives_consensus: int
    positives_ai: int
    ai_kappa_vs_consensus: float
    ai_trusted: bool
    qc_applied: bool
    status: str
    warnings: tuple[str, ...]

    @property
    def positives(self) -> int:
        """Positive items the kappas rest on: the rarer side's count."""
        return min(self.positives_consensus, self.positives_ai)


@dataclass(frozen=True)
class QcDiagnostics:
    """Per-label diagnostics and one entry per exclusion of the paper's rule."""

    settings: QcSettings
    labels: tuple[LabelDiagnostics, ...]
    exclusions: tuple[ExclusionDiagnostics, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN -> None)."""

        def clean(obj: dict[str, Any]) -> dict[str, Any]:
            return {
                k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in obj.items()
            }

        return {
            "settings": dataclasses.asdict(self.settings),
            "kappa_ci_method": KAPPA_CI_METHOD,
            "labels": {
                d.label: clean(
                    {
                        **{k: v for k, v in dataclasses.asdict(d).items() if k != "label"},
                        "positives": d.positives,
                        "warnings": list(d.warnings),
                    }
                )
                for d in self.labels
            },
            "exclusions": [
                clean({**dataclasses.asdict(e), "warnings": list(e.warnings)})
                for e in self.exclusions
            ],
        }


def _cells(n: np.ndarray) -> tuple[np.ndarray, ...]:
    n = np.asarray(n, dtype=np.float64)
    return n[..., 0], n[..., 1], n[..., 2], n[..., 3]


def kappa_se(counts: np.ndarray) -> np.ndarray:
    """Fleiss-Cohen-Everitt (1969) large-sample SE of Cohen's kappa from 2x2 counts.

    ``counts[..., :]`` = (n11, n10, n01, n00), first rater by second; NaN
    where there are no items or chance agreement is 1.
    """
    n11, n10, n01, n00 = _cells(counts)
    n = n11 + n10 + n01 + n00
    with np.errstate(divide="ignore", invalid="ignore"):
        p11, p10, p01, p00 = n11 / n, n10 / n, n01 / n, n00 / n
        r1, c1 = p11 + p10, p11 + p01  # P(first True), P(second True)
        r0, c0 = 1 - r1, 1 - c1
        pe = r1 * c1 + r0 * c0
        k = kappa_from_confusion(n11, n10, n01, n00)
        a = p11 * (1 - (r1 + c1) * (1 - k)) ** 2 + p00 * (1 - (r0 + c0) * (1 - k)) ** 2
        b = (1 - k) ** 2 * (p10 * (c1 + r0) ** 2 + p01 * (c0 + r1) ** 2)
        c = (k - pe * (1 - k)) ** 2
        var = (a + b - c) / (n * (1 - pe) ** 2)
    return np.where((n > 0) & (pe < 1 - 1e-12), np.sqrt(np.maximum(var, 0.0)), np.nan)


def kappa_ci(
    counts: np.ndarray, *, n_draws: int = _KAPPA_DRAWS, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Interval of Cohen's kappa from one 2x2 table (n11, n10, n01, n00).

    The cell shares are drawn from Dirichlet(counts + 1/2) (Jeffreys' prior)
    and the interval is the central ``level`` of the kappas of the draws:
    a Bayesian bootstrap over the items that stays honest when a cell is
    empty (module docstring). NaN without items.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.sum() == 0:
        return float("nan"), float("nan")
    draws = np.random.default_rng(seed).dirichlet(c + 0.5, size=n_draws)
    k = kappa_from_confusion(*(draws[:, i] for i in range(4)))
    tail = (1 - level) / 2
    low, high = np.quantile(k, [tail, 1 - tail])
    return float(low), float(high)


def _pair_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n11, n10, n01, n00) of two bool vectors."""
    return np.array([(a & b).sum(), (a & ~b).sum(), (~a & b).sum(), (~a & ~b).sum()])


def _label_figures(
    ai_k: np.ndarray, cons_k: np.ndarray, settings: QcSettings
) -> tuple[int, int, int, int, float, list[str]]:
    both = (ai_k != MISSING) & (cons_k != MISSING)
    ai_pos, cons_pos = ai_k[both] == 1, cons_k[both] == 1
    kappa = float(kappa_from_confusion(*_pair_counts(ai_pos, cons_pos)))
    warnings = []
    if not kappa >= settings.trust_level:
        warnings.append(
            f"AI untrusted: its kappa vs the readers' consensus "
            f"{'undefined' if np.isnan(kappa) else f'{kappa:.2f}'} is below "
            f"the trust level {settings.trust_level:g}"
        )
    positives = min(int(ai_pos.sum()), int(cons_pos.sum()))
    if positives < settings.min_positives:
        warnings.append(
            f"rare label: {positives} positive items (fewer than {settings.min_positives}), "
            f"so kappa is unstable"
        )
    return int(both.sum()), int(cons_pos.sum()), int(ai_pos.sum()), positives, kappa, warnings


def qc_diagnostics(
    table: AnnotationTable,
    ai: np.ndarray | None,
    result: RewardResult,
    settings: QcSettings | None = None,
    *,
    seed: int = 0,
) -> QcDiagnostics:
    """Diagnostics of the quality control in ``result`` (computed with the paper's rule).

    Parameters
    ----------
    ai : (J, K) int8, optional
        The AI reference ``result`` was computed with (1 / 0 / -1).
    result : RewardResult
        A run with the paper's rule (no gate): its consensus is that of the
        readers the rule keeps.
    settings : QcSettings
        Trust level and minimum positives for the warnings.
    """
    settings = settings or QcSettings()
    n_k = len(table.labels)
    ref = np.full((len(table.cases), n_k), MISSING, np.int8) if ai is None else np.asarray(ai)
    labels, warn_by_label = [], []
    for k, name in enumerate(table.labels):
        ai_items = int((ref[:, k] != MISSING).sum())
        items, cons_pos, ai_pos, _, kappa, warnings = _label_figures(
            ref[:, k], result.consensus[:, k], settings
        )
        trusted = ai_items > 0 and bool(kappa >= settings.trust_level)
        applied = ai_items > 0 and (trusted or not settings.trusted_ai_only)
        if ai_items == 0:
            status, warnings = NO_AI_REFERENCE, []
        elif not applied:
            status = "AI untrusted: quality control not applied (trusted-AI-only setting)"
        else:
            status = "quality control applied"
        warn_by_label.append(tuple(warnings))
        labels.append(
            LabelDiagnostics(
                label=name,
                ai_items=ai_items,
                items=items,
                prevalence_consensus=cons_pos / items if items else float("nan"),
                prevalence_ai=ai_pos / items if items else float("nan"),
                positives_consensus=cons_pos,
                positives_ai=ai_pos,
                ai_kappa_vs_consensus=kappa,
                ai_trusted=trusted,
                qc_applied=applied,
                status=status,
                warnings=tuple(warnings),
            )
        )
    applied_by_label = [d.qc_applied for d in labels]
    return QcDiagnostics(
        settings,
        tuple(labels),
        _exclusions(table, ref, result, warn_by_label, applied_by_label, seed),
    )


def _exclusions(
    table: AnnotationTable,
    ref: np.ndarray,
    result: RewardResult,
    warn_by_label: list[tuple[str, ...]],
    applied: list[bool],
    seed: int,
) -> tuple[ExclusionDiagnostics, ...]:
    n_i, n_k = len(table.annotators), len(table.labels)
    if not result.exclusions:
        return ()
    # One pass over the answers: the 2x2 table (reader, AI) of every (annotator, label).
    r = np.asarray(ref).ravel()[table.item_index()]
    has = r != MISSING
    reader_no = (~table.value[has]).astype(np.intp)
    code = table.cell_index()[has] * 4 + reader_no * 2 + (r[has] != 1)
    cells = np.bincount(code, minlength=n_i * n_k * 4).reshape(n_i, n_k, 4)  # 11, 10, 01, 00
    out = []
    for e in result.exclusions:
        i, k = table.annotators.index(e.annotator), table.labels.index(e.label)
        counts = cells[i, k]
        low, high = kappa_ci(counts, seed=seed)
        warnings = warn_by_label[k]
        if high > result.kappa_threshold:
            warnings += (
                f"uncertain: the kappa's 95 % interval reaches {high:.2f}, above the "
                f"threshold {result.kappa_threshold:g}",
            )
        out.append(
            ExclusionDiagnostics(
                annotator=e.annotator,
                label=e.label,
                kappa=e.kappa,
                ci_low=low,
                ci_high=high,
                se=float(kappa_se(counts)),
                shared_items=e.shared_items,
                reader_positives=int(counts[0] + counts[1]),
                ai_positives=int(counts[0] + counts[2]),
                applied=applied[k],
                warnings=warnings,
            )
        )
    return tuple(out)


def rewards_with_qc(
    table: AnnotationTable,
    *,
    ai: np.ndarray | None = None,
    settings: QcSettings | None = None,
    **kwargs: Any,
) -> tuple[RewardResult, QcDiagnostics]:
    """:func:`compute_rewards` plus diagnostics, with the optional trusted-AI-only gate.

    Without the gate (default) this is exactly the paper's rule. With it,
    the reward is recomputed with the AI reference withheld on the labels
    where the AI is untrusted (so nobody is excluded there); the kappas vs
    AI reported in the result stay those of the first pass, on every label.
    ``kwargs`` go to :func:`compute_rewards`.
    """
    settings = settings or QcSettings()
    paper = compute_rewards(table, ai=ai, **kwargs)
    diagnostics = qc_diagnostics(table, ai, paper, settings)
    if not any(not e.applied for e in diagnostics.exclusions):
        return paper, diagnostics
    gated = compute_rewards(table, ai=gated_ai(ai, diagnostics), **kwargs)
    gated = dataclasses.replace(gated, kappa_vs_ai=paper.kappa_vs_ai, ai_shared=paper.ai_shared)
    return gated, diagnostics


def gated_ai(ai: np.ndarray | None, diagnostics: QcDiagnostics) -> np.ndarray | None:
    """The AI reference quality control actually used (withheld where not applied)."""
    if ai is None:
        return None
    out = np.array(ai, dtype=np.int8, copy=True)
    out[:, ~np.array([d.qc_applied for d in diagnostics.labels], dtype=bool)] = MISSING
    return out
