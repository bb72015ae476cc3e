"""Quality control, Algorithm 1 and Eq. 1 (docs/reward-math.md), and time statistics."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from markit_core.agreement.measures import MISSING
from markit_core.errors import MarkitError, ValidationError
from markit_core.rewards.engine import NoPositiveScoresError, compute_rewards
from markit_core.rewards.labelling_time import group_time_stats, t_quantile
from markit_core.rewards.qc import quality_control
from markit_core.rewards.report import format_table, result_to_dict
from markit_core.rewards.table import AnnotationTable


def table_from(answers: dict[str, list[str]], annotators: str = "ABC") -> AnnotationTable:
    """``{label: ["TTF", "F-T", ...]}``: one string per image, one char per annotator, - = none."""
    rows = []
    for label, images in answers.items():
        for j, pattern in enumerate(images):
            for a, ch in zip(annotators, pattern, strict=True):
                if ch != "-":
                    rows.append((f"img{j + 1}", label, a, ch == "T"))
    cases, labels, anns, values = zip(*rows, strict=True)
    return AnnotationTable.from_columns(cases, labels, anns, values)


WORKED = {
    "effusion": ["TTT", "TTF", "FFF", "FTF"],
    "pneumothorax": ["FFF", "TFT", "FFF", "FFT"],
}


def test_worked_example() -> None:
    t = table_from(WORKED)
    r = compute_rewards(t, budget=100, label_seconds=np.array([5.0, 10.0]))
    assert r.annotators == ("A", "B", "C") and r.labels == ("effusion", "pneumothorax")
    assert r.rewards == pytest.approx([50, 25, 25])
    assert r.scores == pytest.approx([3.0, 1.5, 1.5])
    assert r.task_value == pytest.approx([0.5, 0.25])
    assert r.tbar == pytest.approx([0.5, 1.0])
    assert r.dr_sums == pytest.approx(np.array([[4 / 3, 4 / 3], [2 / 3, 2 / 3], [2 / 3, 2 / 3]]))
    assert r.contributions == pytest.approx(r.dr_sums * np.array([1.0, 1.25]))
    assert r.contributions.sum(axis=1) == pytest.approx(r.scores)
    assert r.exclusions == () and r.kappa_vs_ai is None
    # Pseudo answers per image: effusion T T F F, pneumothorax F T F F.
    assert r.consensus.T.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0]]


def test_worked_example_times_from_seconds_column() -> None:
    t = table_from(WORKED)
    secs = np.where(t.label == 0, 5.0, 10.0)
    t = AnnotationTable(**{**t.__dict__, "seconds": secs})
    r = compute_rewards(t, budget=100)
    assert r.label_mean_seconds == pytest.approx([5.0, 10.0])
    assert r.rewards == pytest.approx([50, 25, 25])
    # Without any times tbar is 0: S = T * sums = 1.0, 0.5, 0.5.
    r0 = compute_rewards(table_from(WORKED), budget=100)
    assert r0.tbar.tolist() == [0.0, 0.0]
    assert r0.scores == pytest.approx([1.0, 0.5, 0.5])


def test_tie_counts_as_false() -> None:
    r = compute_rewards(table_from({"x": ["TT", "TF"]}, "AB"), budget=10)
    assert r.consensus[:, 0].tolist() == [1, 0]
    assert r.task_value[0] == pytest.approx(0.5)  # a tie counted True would give 1.0
    # Tie: M = 1, D = 1/2, D~ = 0 -> no term; image 1: D~ = -1, r~ = -1 -> +1 each.
    assert r.dr_sums[:, 0] == pytest.approx([1.0, 1.0])
    assert r.rewards == pytest.approx([5, 5])


def test_missing_answers_are_absent_not_false() -> None:
    r = compute_rewards(table_from({"x": ["TT-", "TTF", "FFF"]}), budget=100)
    # img1: M=2, D~=-1, A,B +1; img2: D~=-1/3, A,B +1/3, C -1/3; img3: +1/3 each.
    assert r.dr_sums[:, 0] == pytest.approx([5 / 3, 5 / 3, 0.0])
    assert r.task_value[0] == pytest.approx(2 / 3)
    assert r.rewards == pytest.approx([50, 50, 0])
    assert r.n_answers[:, 0].tolist() == [3, 3, 2]
    # Agreement is over images all three answered: img2 (disagree), img3 (all negative).
    g = r.agreement
    assert (g.items, g.all_positive, g.all_negative, g.disagreements) == (2, 0, 1, 1)


def test_negative_score_is_reported_and_paid_nothing() -> None:
    r = compute_rewards(table_from({"x": ["TTF", "FFT", "TTF"]}), budget=90)
    assert r.scores[2] < 0 < r.scores[0]
    assert r.paid_scores[2] == 0.0
    assert r.rewards == pytest.approx([45, 45, 0])
    assert r.rewards.sum() == pytest.approx(90)


def test_all_scores_non_positive_raises_clear_error() -> None:
    # Four annotators always agreeing: M = 4, r~ = 0, every S = 0.
    t = table_from({"x": ["TTTT", "FFFF", "TTTT"]}, "ABCD")
    with pytest.raises(NoPositiveScoresError, match="no annotator has a positive score") as info:
        compute_rewards(t, budget=100)
    assert info.value.scores == {"A": 0.0, "B": 0.0, "C": 0.0, "D": 0.0}
    assert issubclass(NoPositiveScoresError, MarkitError)


def test_bad_parameters() -> None:
    t = table_from(WORKED)
    with pytest.raises(ValidationError):
        compute_rewards(t, budget=-1)
    with pytest.raises(ValidationError, match="truth rule"):
        compute_rewards(t, truth="vote")
    with pytest.raises(ValidationError):
        compute_rewards(t, ai=np.zeros((2, 2), np.int8))
    with pytest.raises(ValidationError):
        compute_rewards(t, label_seconds=np.array([1.0, -2.0]))
    with pytest.raises(ValidationError, match="duplicate"):
        AnnotationTable.from_columns(["c", "c"], ["l", "l"], ["a", "a"], [True, False])


def test_annotator_excluded_on_one_label_only() -> None:
    answers = {
        "a": ["TTT", "FFF", "TTF", "FFF", "TFT", "FFF"],
        "b": ["TTF", "FFT", "TTF", "FFT", "TFF", "FFT"],  # C answers against the AI on b
    }
    t = table_from(answers)
    ai = t.reference_matrix(
        [f"img{j}" for j in range(1, 7)] * 2,
        ["a"] * 6 + ["b"] * 6,
        [True, False, True, False, True, False] * 2,
    )
    r = compute_rewards(t, ai=ai, budget=100)
    assert [(e.annotator, e.label) for e in r.exclusions] == [("C", "b")]
    assert r.exclusions[0].kappa == pytest.approx(cohen_kappa_score([0, 1, 0, 1, 0, 1], [1, 0] * 3))
    assert r.excluded.tolist() == [[False, False], [False, False], [False, True]]
    assert r.n_kept[2].tolist() == [6, 0]
    assert r.contributions[2, 1] == 0.0 and r.contributions[2, 0] != 0.0
    # On b, with C's votes dropped, A and B agree everywhere except img5.
    assert r.consensus[:, 1].tolist() == [1, 0, 1, 0, 0, 0]
    assert r.kappa_vs_ai[0, 0] == pytest.approx(1.0)


def test_quality_control_without_ai_excludes_nothing() -> None:
    kappa, shared, excluded = quality_control(table_from(WORKED), None)
    assert kappa is None and not excluded.any() and not shared.any()


def test_pair_without_shared_images_is_not_checked() -> None:
    t = table_from({"x": ["TTF", "FFF", "TFT"]})
    ai = np.full((3, 1), MISSING, np.int8)
    kappa, shared, excluded = quality_control(t, ai)
    assert np.isnan(kappa).all() and not excluded.any()


def _synthetic(seed: int, n_random: int = 5) -> tuple[AnnotationTable, np.ndarray, np.ndarray]:
    """1000 images x 7 labels: 3 careful annotators, ``n_random`` coin flippers, 85% AI."""
    rng = np.random.default_rng(seed)
    n_j, n_k, careful = 1000, 7, np.array([0.95, 0.92, 0.90])
    n_i = careful.size + n_random
    truth = rng.random((n_j, n_k)) < rng.uniform(0.15, 0.4, n_k)
    case = np.repeat(np.arange(n_j), n_k * n_i)
    label = np.tile(np.repeat(np.arange(n_k), n_i), n_j)
    ann = np.tile(np.arange(n_i), n_j * n_k)
    t = truth[case, label]
    right = rng.random(t.size) < np.append(careful, np.zeros(n_random))[ann]
    coin = rng.random(t.size) < 0.5
    value = np.where(ann < careful.size, np.where(right, t, ~t), coin)
    table = AnnotationTable(
        annotator=ann,
        case=case,
        label=label,
        value=value,
        annotators=tuple(f"ann{i}" for i in range(n_i)),
        cases=tuple(f"c{j:04d}" for j in range(n_j)),
        labels=tuple(f"label{k}" for k in range(n_k)),
    )
    ai = np.where(rng.random((n_j, n_k)) < 0.85, truth, ~truth).astype(np.int8)
    return table, ai, truth


def test_quality_control_excludes_random_annotators_only() -> None:
    # With 1000 images a coin flipper's kappa vs AI has SD ~0.03, so each of its 35
    # pairs passes the paper's 0.05 threshold with ~5% probability: with this
    # generator about one seed in seven has all 35 below it. The seed is fixed to
    # such a data set; the next test checks the rule on other seeds.
    table, ai, truth = _synthetic(seed=SYNTHETIC_SEED)
    r = compute_rewards(table, ai=ai, budget=1000)
    assert not r.excluded[:3].any()
    assert r.excluded[3:].all()
    assert len(r.exclusions) == 5 * 7
    assert (r.kappa_vs_ai[:3] > 0.3).all()
    assert np.abs(r.kappa_vs_ai[3:]).max() < 0.1
    assert r.rewards[3:].tolist() == [0.0] * 5
    assert r.rewards[:3].sum() == pytest.approx(1000)
    # The most accurate careful annotator earns most.
    assert r.rewards[0] > r.rewards[1] > r.rewards[2]
    # Agreement is computed over the 3 remaining annotators on every item.
    assert r.agreement.items == 7000
    # Pseudo answers from the careful majority are ~99% right.
    assert (r.consensus == truth).mean() > 0.98


SYNTHETIC_SEED = 1


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_quality_control_rule_on_other_seeds(seed: int) -> None:
    table, ai, _ = _synthetic(seed=seed)
    r = compute_rewards(table, ai=ai, budget=1000)
    assert (r.excluded == ~(r.kappa_vs_ai > 0.05)).all()
    assert not r.excluded[:3].any()
    assert r.excluded[3:].mean() >= 0.85


def test_dawid_skene_truth_rule() -> None:
    # Two careful annotators and one who mostly answers the opposite: the majority
    # is wrong whenever a careful one errs; Dawid-Skene learns to read the third
    # annotator's answers reversed.
    rng = np.random.default_rng(2)
    n_j, n_k = 1000, 3
    truth = rng.random((n_j, n_k)) < 0.3
    case = np.repeat(np.arange(n_j), n_k * 3)
    label = np.tile(np.repeat(np.arange(n_k), 3), n_j)
    ann = np.tile(np.arange(3), n_j * n_k)
    right = rng.random(case.size) < np.array([0.95, 0.9, 0.1])[ann]
    t_val = truth[case, label]
    table = AnnotationTable(
        annotator=ann,
        case=case,
        label=label,
        value=np.where(right, t_val, ~t_val),
        annotators=("good1", "good2", "reversed"),
        cases=tuple(str(j) for j in range(n_j)),
        labels=("x", "y", "z"),
    )
    maj = compute_rewards(table, budget=1000)
    ds = compute_rewards(table, budget=1000, truth="dawid-skene")
    assert ds.truth_rule == "dawid_skene" and maj.ds_sensitivity is None
    assert (maj.consensus == truth).mean() < 0.9
    assert (ds.consensus == truth).mean() > 0.97  # about the Bayes rate here
    assert ds.ds_sensitivity.shape == (3, 3)
    assert (ds.ds_sensitivity[:2] > 0.85).all() and (ds.ds_sensitivity[2] < 0.2).all()
    assert (ds.ds_specificity[2] < 0.2).all()
    # T is the share of images whose pseudo answer is True.
    assert ds.task_value == pytest.approx((ds.consensus == 1).mean(axis=0))


def test_dawid_skene_close_to_majority_on_clean_data() -> None:
    table, _, _ = _synthetic(seed=1, n_random=0)
    a = compute_rewards(table, budget=1000)
    b = compute_rewards(table, budget=1000, truth="dawid_skene")
    assert (a.consensus == b.consensus).mean() > 0.99
    assert b.rewards == pytest.approx(a.rewards, rel=0.02)


def test_many_agreeing_annotators_make_agreement_cost() -> None:
    # Eq. 1's scaling r~ = 4 (0.25 - 1/M) turns positive for M >= 5, so with five
    # unanimous annotators every term is negative; this is the paper's formula.
    t = table_from({"x": ["TTTTT", "FFFFF", "TTTTF"]}, "ABCDE")
    with pytest.raises(NoPositiveScoresError):
        compute_rewards(t, budget=10)


def test_agreement_on_paper_shaped_data() -> None:
    # 7 labels x 1000 images x 3 annotators with the paper's counts: 370 all positive,
    # 5954 all negative, 676 disagreements (420 with one True, 256 with two).
    rng = np.random.default_rng(0)
    patterns = np.array(
        [[1, 1, 1]] * 370
        + [[0, 0, 0]] * 5954
        + [list(p) for p in rng.permutation([[1, 0, 0], [0, 1, 0], [0, 0, 1]] * 140)]
        + [list(p) for p in rng.permutation([[1, 1, 0], [1, 0, 1], [0, 1, 1]] * 85 + [[1, 1, 0]])],
        dtype=bool,
    )[rng.permutation(7000)]
    item = np.repeat(np.arange(7000), 3)
    t = AnnotationTable(
        annotator=np.tile(np.arange(3), 7000),
        case=item // 7,
        label=item % 7,
        value=patterns.ravel(),
        annotators=("r1", "r2", "r3"),
        cases=tuple(str(j) for j in range(1000)),
        labels=tuple(f"l{k}" for k in range(7)),
    )
    g = compute_rewards(t, budget=1000).agreement
    assert (g.items, g.all_positive, g.all_negative, g.disagreements) == (7000, 370, 5954, 676)
    assert g.full_agreement_rate == pytest.approx(0.90, abs=0.005)
    assert g.fleiss_kappa == pytest.approx(0.63, abs=0.01)
    table, _ = aggregate_raters(patterns.astype(int), n_cat=2)
    assert g.fleiss_kappa == pytest.approx(sm_fleiss_kappa(table))


def test_time_statistics_against_scipy() -> None:
    rng = np.random.default_rng(4)
    t = table_from(WORKED)
    secs = rng.gamma(3.0, 2.0, t.n_annotations)
    secs[3] = np.nan  # an untimed answer is ignored
    t = AnnotationTable(**{**t.__dict__, "seconds": secs})
    r = compute_rewards(t, budget=100)
    for k in range(2):
        x = secs[(t.label == k) & ~np.isnan(secs)]
        lo, hi = scipy.stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=scipy.stats.sem(x))
        assert r.time_by_label.n[k] == x.size
        assert r.time_by_label.mean[k] == pytest.approx(x.mean())
        assert r.time_by_label.median[k] == pytest.approx(np.median(x))
        assert (r.time_by_label.ci_low[k], r.time_by_label.ci_high[k]) == pytest.approx((lo, hi))
        for i in range(3):
            y = secs[(t.label == k) & (t.annotator == i) & ~np.isnan(secs)]
            assert r.time_by_label_annotator.mean[k, i] == pytest.approx(y.mean())
            assert r.time_by_label_annotator.median[k, i] == pytest.approx(np.median(y))
    assert r.time_by_label.n.sum() == t.n_annotations - 1


def test_group_time_stats_small_groups() -> None:
    s = group_time_stats(np.array([4.0, 1.0, 2.0, 7.0]), np.array([0, 1, 1, 1]), 3)
    assert s.n.tolist() == [1, 3, 0]
    assert s.median[:2].tolist() == [4.0, 2.0]
    assert np.isnan(s.half_width[0]) and np.isnan(s.mean[2])
    assert s.half_width[1] == pytest.approx(
        scipy.stats.t.ppf(0.975, 2) * np.std([1, 2, 7], ddof=1) / np.sqrt(3)
    )


def test_t_quantile_matches_scipy() -> None:
    df = np.concatenate([np.arange(1, 500), [1e3, 1e4, 1e6]])
    for p in (0.9, 0.95, 0.975, 0.995):
        assert t_quantile(p, df) == pytest.approx(scipy.stats.t.ppf(p, df), rel=1e-5)


def test_report_dict_and_table() -> None:
    t = table_from(WORKED)
    ai = t.reference_matrix(
        ["img1", "img2", "img3", "img4"], ["effusion"] * 4, [True, True, False, False]
    )
    r = compute_rewards(t, ai=ai, budget=100, label_seconds=np.array([5.0, 10.0]))
    d = result_to_dict(r)
    assert d["rewards"] == pytest.approx({"A": 50.0, "B": 25.0, "C": 25.0})
    assert d["labels"]["effusion"] == pytest.approx({"T": 0.5, "tbar": 0.5, "mean_seconds": 5.0})
    # Pneumothorax has no AI reference: kappa undefined (None), pair not checked.
    assert d["cohen_kappa_vs_ai"]["pneumothorax"] == {"A": None, "B": None, "C": None}
    assert d["cohen_kappa_vs_ai"]["effusion"]["A"] == pytest.approx(1.0)
    text = format_table(r)
    assert "A" in text and "50.00" in text and "pneumothorax" in text
