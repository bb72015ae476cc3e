"""Issue 14: partial AI references, quality-control diagnostics, warnings and the trust gate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import cohens_kappa

from markit_core.agreement.measures import MISSING
from markit_core.errors import ValidationError
from markit_core.rewards.analysis import analyse_rewards
from markit_core.rewards.csv_input import load_adjudication, load_ai_reference
from markit_core.rewards.diagnostics import (
    NO_AI_REFERENCE,
    QcSettings,
    kappa_ci,
    kappa_se,
    qc_diagnostics,
    rewards_with_qc,
)
from markit_core.rewards.engine import compute_rewards
from markit_core.rewards.report import result_to_dict
from markit_core.rewards.table import AnnotationTable
from tests.test_rewards import WORKED, table_from

N_CASES = 1000
RARE_POSITIVES = [0, 1, 2, 3, 4]  # 0.5 % prevalence
AI_RARE_POSITIVES = [0] + list(range(100, 115))  # catches 1 of 5, 15 false alarms


def rare_label_case() -> tuple[AnnotationTable, np.ndarray, np.ndarray]:
    """Three readers, a common and a rare label, and an AI that is weak on the rare one.

    common (30 %): A and B careful, C guesses -> C is rightly excluded; the AI
    agrees well with the readers there. rare (5 positives in 1,000): A and C
    are perfect, B is careful (999 of 1,000 right) but misses the one case the
    AI caught -> the paper's rule excludes B.
    """
    rng = np.random.default_rng(14)
    truth = np.zeros((N_CASES, 2), dtype=bool)
    truth[:, 0] = rng.random(N_CASES) < 0.3
    truth[RARE_POSITIVES, 1] = True
    ai = truth.copy()
    ai[:, 0] ^= rng.random(N_CASES) < 0.05
    ai[:, 1] = False
    ai[AI_RARE_POSITIVES, 1] = True
    answers = {
        "A": truth.copy(),
        "B": truth.copy(),
        "C": truth.copy(),
    }
    answers["A"][:, 0] ^= rng.random(N_CASES) < 0.03
    answers["B"][:, 0] ^= rng.random(N_CASES) < 0.03
    answers["C"][:, 0] = rng.random(N_CASES) < 0.3  # careless on the common label
    answers["B"][0, 1] = False  # the careful reader's one miss
    cases, labels, anns, values = [], [], [], []
    for name, ans in answers.items():
        for k, label in enumerate(("common", "rare")):
            cases += [f"case{j:04d}" for j in range(N_CASES)]
            labels += [label] * N_CASES
            anns += [name] * N_CASES
            values += list(ans[:, k])
    table = AnnotationTable.from_columns(cases, labels, anns, values)
    return table, ai.astype(np.int8), truth


def test_paper_rule_excludes_the_careful_reader_on_the_rare_label_and_warns() -> None:
    table, ai, truth = rare_label_case()
    result, diag = rewards_with_qc(table, ai=ai)
    assert {(e.annotator, e.label) for e in result.exclusions} == {("C", "common"), ("B", "rare")}
    assert (table.dense("rare")[1] == truth[:, 1]).mean() == pytest.approx(0.999)

    common, rare = diag.labels
    assert (common.ai_items, rare.ai_items) == (N_CASES, N_CASES)
    # Consensus of the readers kept (A, C on rare): the five true positives.
    assert (rare.positives_consensus, rare.positives_ai, rare.positives) == (5, 16, 5)
    assert rare.prevalence_consensus == pytest.approx(0.005)
    assert rare.prevalence_ai == pytest.approx(0.016)
    cons = result.consensus[:, 1]
    assert rare.ai_kappa_vs_consensus == pytest.approx(cohen_kappa_score(ai[:, 1], cons))
    assert rare.ai_kappa_vs_consensus < 0.4 and not rare.ai_trusted
    assert [w.split(":")[0] for w in rare.warnings] == ["AI untrusted", "rare label"]
    assert common.ai_trusted and common.warnings == () and common.ai_kappa_vs_consensus > 0.8

    by_pair = {(e.annotator, e.label): e for e in diag.exclusions}
    b_rare, c_common = by_pair["B", "rare"], by_pair["C", "common"]
    assert b_rare.kappa == pytest.approx(cohen_kappa_score(table.dense("rare")[1], ai[:, 1]))
    assert (b_rare.shared_items, b_rare.reader_positives, b_rare.ai_positives) == (1000, 4, 16)
    # B's kappa (-0.006) rests on an empty cell (B and the AI share no positive): the
    # interval reaches well above the threshold, so the exclusion is flagged as uncertain.
    assert b_rare.ci_low <= b_rare.kappa < 0.05 < 0.1 < b_rare.ci_high
    assert b_rare.warnings[:2] == rare.warnings and b_rare.warnings[2].startswith("uncertain")
    # The careless reader on the common label: a tight interval below the threshold, no warning.
    assert c_common.ci_low <= c_common.kappa <= c_common.ci_high < 0.05
    assert c_common.warnings == ()
    c, a = table.dense("common")[2] == 1, ai[:, 0] == 1
    table_2x2 = np.array([[(c & a).sum(), (c & ~a).sum()], [(~c & a).sum(), (~c & ~a).sum()]])
    assert c_common.se == pytest.approx(cohens_kappa(table_2x2).std_kappa)


def test_gate_changes_exclusions_only_where_the_ai_is_untrusted() -> None:
    table, ai, _ = rare_label_case()
    paper, diag = rewards_with_qc(table, ai=ai)
    gated, gdiag = rewards_with_qc(table, ai=ai, settings=QcSettings(trusted_ai_only=True))
    untrusted = np.array([not d.ai_trusted for d in diag.labels])
    assert untrusted.tolist() == [False, True]
    changed = paper.excluded != gated.excluded
    assert changed[:, ~untrusted].sum() == 0  # trusted label: same exclusions
    assert changed.tolist() == [[False, False], [False, True], [False, False]]
    assert [(e.annotator, e.label) for e in gated.exclusions] == [("C", "common")]
    # The diagnostics say the exclusion was not applied, and why.
    (b_rare,) = [e for e in gdiag.exclusions if e.label == "rare"]
    assert not b_rare.applied and "not applied" in gdiag.labels[1].status
    # Kappas vs AI are still reported on every label.
    assert np.array_equal(gated.kappa_vs_ai, paper.kappa_vs_ai, equal_nan=True)
    # B now votes and earns on the rare label.
    assert gated.n_kept[1, 1] == N_CASES and paper.n_kept[1, 1] == 0
    # Off by default, and a trust level nobody reaches gates every label.
    assert rewards_with_qc(table, ai=ai)[0].excluded.tolist() == paper.excluded.tolist()
    none, _ = rewards_with_qc(
        table, ai=ai, settings=QcSettings(trust_level=1.0, trusted_ai_only=True)
    )
    assert none.exclusions == ()


def test_blank_ai_cells_mean_no_reference_for_that_item(tmp_path) -> None:
    table, ai, _ = rare_label_case()
    rng = np.random.default_rng(3)
    partial = ai.copy()
    blank = rng.random(partial.shape) < 0.3
    partial[blank] = MISSING
    result = compute_rewards(table, ai=partial)
    for i in range(3):
        for k, label in enumerate(table.labels):
            has = partial[:, k] != MISSING
            want = cohen_kappa_score(table.dense(label)[i][has], partial[has, k])
            assert result.kappa_vs_ai[i, k] == pytest.approx(want)
            assert result.ai_shared[i, k] == has.sum()

    # The CSV: blank probability and blank ai_value cells are accepted per item.
    lines = ["case_id,label,ai_probability"]
    lines += [
        f"{c},{lab},{'' if blank[j, k] else float(ai[j, k])}"
        for j, c in enumerate(table.cases)
        for k, lab in enumerate(table.labels)
    ]
    path = tmp_path / "AI.csv"
    path.write_text("\n".join(lines) + "\n")
    assert np.array_equal(load_ai_reference(path, table), partial)
    words = tmp_path / "AIv.csv"
    words.write_text("case_id,label,ai_value\ncase0000,common,\ncase0001,common,yes\n")
    dense = load_ai_reference(words, table)
    assert dense[0, 0] == MISSING and dense[1, 0] == 1 and (dense[2:] == MISSING).all()


def test_a_label_without_any_ai_reference_is_reported_and_not_checked() -> None:
    table, ai, _ = rare_label_case()
    partial = ai.copy()
    partial[:, 0] = MISSING  # the AI covers only the rare label
    result, diag = rewards_with_qc(table, ai=partial)
    assert [(e.annotator, e.label) for e in result.exclusions] == [("B", "rare")]
    common = diag.labels[0]
    assert common.status == NO_AI_REFERENCE and not common.qc_applied
    assert common.ai_items == 0 and common.warnings == ()
    assert np.isnan(result.kappa_vs_ai[:, 0]).all()
    d = analyse_rewards(table, ai=partial, n_resamples=0).to_dict()
    assert d["quality_control"]["labels"]["common"]["status"] == NO_AI_REFERENCE
    assert d["quality_control"]["labels"]["common"]["ai_kappa_vs_consensus"] is None


def test_complete_data_results_unchanged() -> None:
    t = table_from(WORKED)
    secs = np.array([5.0, 10.0])
    plain = compute_rewards(t, budget=100, label_seconds=secs)
    analysis = analyse_rewards(t, budget=100, label_seconds=secs, n_resamples=50)
    assert analysis.result.rewards == pytest.approx([50, 25, 25])
    old = result_to_dict(plain)
    new = analysis.to_dict()
    assert {k: v for k, v in new.items() if k in old and k != "parameters"} == {
        k: v for k, v in old.items() if k != "parameters"
    }
    assert new["parameters"].items() >= old["parameters"].items()
    # With a complete AI reference the diagnostics add no exclusion of their own.
    table, ai, _ = rare_label_case()
    assert rewards_with_qc(table, ai=ai)[0].rewards == pytest.approx(
        compute_rewards(table, ai=ai).rewards
    )


def test_kappa_se_and_ci() -> None:
    counts = np.array([40, 10, 5, 45])
    ref = cohens_kappa(np.array([[40, 10], [5, 45]]))
    assert kappa_se(counts) == pytest.approx(ref.std_kappa)
    low, high = kappa_ci(counts, seed=1)
    # On a balanced table of 100 items the interval is close to the Wald interval.
    assert low == pytest.approx(ref.kappa - 1.96 * ref.std_kappa, abs=0.03)
    assert high == pytest.approx(ref.kappa + 1.96 * ref.std_kappa, abs=0.03)
    assert kappa_ci(counts, seed=1) == kappa_ci(counts, seed=1)
    assert np.isnan(kappa_se(np.zeros(4))) and np.isnan(kappa_ci(np.zeros(4))[0])


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="trust level"):
        QcSettings(trust_level=1.5)
    with pytest.raises(ValidationError, match="positives"):
        QcSettings(min_positives=-1)


def test_diagnostics_without_ai() -> None:
    t = table_from(WORKED)
    result = compute_rewards(t, budget=100)
    diag = qc_diagnostics(t, None, result)
    assert all(d.status == NO_AI_REFERENCE for d in diag.labels) and diag.exclusions == ()


def test_adjudication_file(tmp_path) -> None:
    t = table_from(WORKED)
    path = tmp_path / "ADJ.csv"
    path.write_text("case_id,label,value\nimg2,effusion,false\nimg4,pneumothorax,\nimg9,x,true\n")
    adj = load_adjudication(path, t)
    assert adj.tolist() == [[-1, -1], [0, -1], [-1, -1], [-1, -1]]
