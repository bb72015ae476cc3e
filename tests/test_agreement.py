"""Agreement statistics: hand-computed values and cross-checks against sklearn/statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from markit_core.agreement.measures import (
    MISSING,
    agreement_from_counts,
    agreement_summary,
    as_ratings,
    cohen_kappa,
    cohen_kappa_vs_reference,
    confidence_weights,
    dawid_skene,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    kappa_from_confusion,
    krippendorff_alpha_nominal,
    majority_vote,
    pairwise_cohen_kappa,
)
from markit_core.errors import ValidationError

NAN = np.nan

# The worked example of docs/reward-math.md, both labels as 8 items, raters A, B, C.
WORKED = np.array(
    [
        # effusion 1..4   pneumothorax 1..4
        [1, 1, 0, 0, 0, 1, 0, 0],  # A
        [1, 1, 0, 1, 0, 0, 0, 0],  # B
        [1, 0, 0, 0, 0, 1, 0, 1],  # C
    ],
    dtype=np.int8,
)


def test_as_ratings_codings() -> None:
    assert as_ratings(np.array([[True, False]])).tolist() == [[1, 0]]
    assert as_ratings(np.array([[1.0, NAN, 0.0]])).tolist() == [[1, MISSING, 0]]
    with pytest.raises(ValidationError):
        as_ratings(np.array([[2, 0]]))
    with pytest.raises(ValidationError):
        as_ratings(np.array([1, 0]))  # 1-D


def test_agreement_summary_worked_example_by_hand() -> None:
    s = agreement_summary(WORKED)
    assert (s.items, s.all_positive, s.all_negative, s.disagreements) == (8, 1, 3, 4)
    assert s.full_agreement_rate == pytest.approx(0.5)
    # Pbar = 2/3, p(True) = 9/24, Pe = 0.53125 -> kappa = 13/45.
    assert s.fleiss_kappa == pytest.approx(13 / 45)


def test_agreement_summary_leaves_out_items_with_a_missing_rating() -> None:
    v = WORKED.copy()
    v[2, 0] = MISSING  # item 0 (all positive) loses a rating
    s = agreement_summary(v)
    assert (s.items, s.all_positive, s.all_negative) == (7, 0, 3)


def test_fleiss_hand_computed() -> None:
    # 3 raters, True counts 3, 2, 0, 1: Pbar = 2/3, p = 1/2, Pe = 1/2 -> 1/3.
    assert fleiss_kappa_from_counts(np.array([3, 2, 0, 1]), np.full(4, 3)) == pytest.approx(1 / 3)
    # Chance agreement 1 -> 0; no pairable item -> NaN.
    assert fleiss_kappa_from_counts(np.array([3, 3]), np.array([3, 3])) == 0.0
    assert np.isnan(fleiss_kappa_from_counts(np.array([1]), np.array([1])))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fleiss_matches_statsmodels_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_raters, n_items = int(rng.integers(2, 7)), 300
    truth = rng.random(n_items) < 0.3
    flip = rng.random((n_raters, n_items)) < rng.uniform(0.05, 0.4, (n_raters, 1))
    values = (truth[None, :] ^ flip).astype(np.int8)
    table, _ = aggregate_raters(values.T, n_cat=2)
    assert fleiss_kappa(values) == pytest.approx(sm_fleiss_kappa(table, method="fleiss"))
    s = agreement_summary(values)
    assert s.fleiss_kappa == pytest.approx(sm_fleiss_kappa(table, method="fleiss"))
    assert s.all_positive == int(values.all(axis=0).sum())


def test_agreement_from_counts_ignores_single_ratings() -> None:
    s = agreement_from_counts(np.array([1, 2, 0]), np.array([1, 2, 2]))
    assert (s.items, s.all_positive, s.all_negative, s.disagreements) == (2, 1, 1, 0)


def test_cohen_hand_computed() -> None:
    a = np.array([1, 1, 0, 0, 1, 0])
    b = np.array([1, 0, 0, 0, 1, 1])
    # n11=2 n10=1 n01=1 n00=2: po = 2/3, pe = 1/2 -> 1/3.
    assert cohen_kappa(a, b) == pytest.approx(1 / 3)
    # Perfect disagreement with balanced marginals -> -1.
    assert cohen_kappa(np.array([1, 0, 1, 0]), np.array([0, 1, 0, 1])) == pytest.approx(-1.0)


def test_cohen_is_zero_when_chance_agreement_is_one() -> None:
    assert cohen_kappa(np.ones(5, int), np.ones(5, int)) == 0.0
    assert kappa_from_confusion(np.array([0.0]), 0, 0, np.array([7.0]))[0] == 0.0
    assert np.isnan(kappa_from_confusion(0, 0, 0, 0))


def test_cohen_uses_only_items_both_rated() -> None:
    a = np.array([1, 1, 0, 0, MISSING, 1])
    b = np.array([1, 0, 0, MISSING, 1, 1])
    # Items 0, 1, 2, 5: a = 1 1 0 1, b = 1 0 0 1.
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score([1, 1, 0, 1], [1, 0, 0, 1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cohen_matches_sklearn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.random(500) < 0.4
    b = np.where(rng.random(500) < 0.7, a, rng.random(500) < 0.5)
    w = rng.uniform(0.1, 1.0, 500)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(a, b, weights=w) == pytest.approx(cohen_kappa_score(a, b, sample_weight=w))


def test_pairwise_and_reference_kappa_match_pairwise_calls() -> None:
    rng = np.random.default_rng(7)
    v = (rng.random((4, 200)) < 0.4).astype(np.int8)
    v[:, v.sum(axis=0) > 2] = 1  # some structure
    v[rng.random(v.shape) < 0.1] = MISSING
    ref = (rng.random(200) < 0.4).astype(np.int8)
    ref[:10] = MISSING
    m = pairwise_cohen_kappa(v)
    assert m.shape == (4, 4)
    assert np.allclose(m, m.T)
    for i in range(4):
        for j in range(4):
            assert m[i, j] == pytest.approx(cohen_kappa(v[i], v[j]))
    vs = cohen_kappa_vs_reference(v, ref)
    assert vs == pytest.approx([cohen_kappa(v[i], ref) for i in range(4)])


def test_pairwise_weights_are_products_of_rating_weights() -> None:
    rng = np.random.default_rng(3)
    v = (rng.random((2, 150)) < 0.5).astype(np.int8)
    grades = rng.uniform(0, 100, (2, 150))
    w = confidence_weights(grades)
    expected = cohen_kappa_score(v[0], v[1], sample_weight=w[0] * w[1])
    assert pairwise_cohen_kappa(v, w)[0, 1] == pytest.approx(expected)


def test_confidence_weights() -> None:
    assert confidence_weights(np.array([0.0, 50.0, NAN, 100.0])).tolist() == [0.0, 0.5, 1.0, 1.0]
    with pytest.raises(ValidationError):
        confidence_weights(np.array([101.0]))


def test_majority_vote_tie_is_false_and_missing_stays_missing() -> None:
    v = np.array([[1, 1, 1, MISSING], [1, 0, 0, MISSING], [0, MISSING, 1, MISSING]])
    assert majority_vote(v).tolist() == [1, 0, 1, MISSING]
    # Weighting: a confident False outweighs two unsure Trues.
    w = np.array([[0.2, 1, 1, 1], [0.2, 1, 1, 1], [1.0, 1, 1, 1]])
    assert majority_vote(v, w)[0] == 0


def test_krippendorff_hand_computed_binary() -> None:
    # Pairable units: (1,1) (0,0) (1,0) (0,0,1); unit 4 has one rating only.
    # o00 = 3, o11 = 2, o01 = o10 = 2; n0 = 5, n1 = 4, n = 9
    # alpha = 1 - (n-1) * (o01 + o10) / (2 n0 n1) = 1 - 8 * 4 / 40 = 0.2
    v = np.array([[1, 0, 1, 1, 0], [1, 0, 0, NAN, 0], [NAN, NAN, NAN, NAN, 1]])
    assert krippendorff_alpha_nominal(v) == pytest.approx(0.2)


def test_krippendorff_reference_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 observers,
    # 12 units, missing values: nominal alpha = 0.743.
    v = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
            [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
        ]
    )
    assert krippendorff_alpha_nominal(v) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_edge_cases() -> None:
    assert np.isnan(krippendorff_alpha_nominal(np.array([[1, 1], [1, 1]])))
    assert np.isnan(krippendorff_alpha_nominal(np.array([[1, NAN], [NAN, 0]])))
    # Perfect agreement with two categories.
    assert krippendorff_alpha_nominal(np.array([[1, 0, 1], [1, 0, 1]])) == pytest.approx(1.0)


def _one_bad_annotator(
    seed: int, acc: tuple[float, ...] = (0.85, 0.8, 0.2)
) -> tuple[np.ndarray, np.ndarray]:
    """Fair annotators and a last one that mostly answers the opposite."""
    rng = np.random.default_rng(seed)
    truth = rng.random(2000) < 0.3
    p = np.asarray(acc)
    correct = rng.random((p.size, truth.size)) < p[:, None]
    values = np.where(correct, truth, ~truth).astype(np.int8)
    return truth, values


@pytest.mark.parametrize("seed", [0, 1])
def test_dawid_skene_beats_majority_with_one_bad_annotator(seed: int) -> None:
    truth, values = _one_bad_annotator(seed)
    ds = dawid_skene(values)
    maj_acc = (majority_vote(values) == truth).mean()
    ds_acc = (ds.truth == truth).mean()
    assert ds.converged
    assert ds_acc >= maj_acc
    assert ds_acc > 0.9 > maj_acc
    assert ds.sensitivity[2] < 0.3 and ds.specificity[2] < 0.3


def test_dawid_skene_recovers_sensitivity_and_specificity() -> None:
    acc = (0.9, 0.85, 0.8, 0.75, 0.2)
    truth, values = _one_bad_annotator(11, acc)
    ds = dawid_skene(values)
    # Sensitivity and specificity both equal the accuracy in this simulation.
    assert ds.sensitivity == pytest.approx(acc, abs=0.04)
    assert ds.specificity == pytest.approx(acc, abs=0.04)
    assert ds.prior[0] == pytest.approx(truth.mean(), abs=0.02)
    assert (ds.truth == truth).mean() > (majority_vote(values) == truth).mean()


def test_dawid_skene_missing_and_zero_weights() -> None:
    truth, values = _one_bad_annotator(5)
    values = values.copy()
    values[0, :100] = MISSING
    w = np.ones(values.shape)
    w[1, 100:200] = 0.0
    dropped = values.copy()
    dropped[1, 100:200] = MISSING
    a = dawid_skene(values, weights=w)
    b = dawid_skene(dropped)
    assert a.posterior == pytest.approx(b.posterior, abs=1e-9)
    assert a.sensitivity == pytest.approx(b.sensitivity, abs=1e-9)


def test_krippendorff_undefined_when_every_value_is_one_category() -> None:
    """No variation: alpha is 0/0 (undefined), not a perfect 1.0 (issue 9, point 18)."""
    same = np.array([[0, 0, 0, MISSING], [0, 0, MISSING, 0], [0, MISSING, 0, 0]])
    assert np.isnan(krippendorff_alpha_nominal(same))
    # one unpaired value in another category does not make it pairable variation
    assert np.isnan(krippendorff_alpha_nominal(np.array([[1, 1, 0], [1, 1, MISSING]])))


@pytest.mark.parametrize("raters", [1, 2, 5, 8, 9, 20])
def test_unweighted_pair_counts_equal_the_matrix_products(raters):
    """The bincount path for few raters gives exactly the weighted path's counts at weight 1."""
    from markit_core.agreement.measures import (
        cohen_kappa_vs_reference,
        pair_confusion,
        pairwise_cohen_kappa,
    )

    rng = np.random.default_rng(raters)
    v = rng.integers(-1, 2, size=(raters, 500)).astype(np.int8)
    ones = np.ones(v.shape)
    for fast, slow in zip(pair_confusion(v), pair_confusion(v, ones), strict=True):
        np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(pairwise_cohen_kappa(v), pairwise_cohen_kappa(v, ones))
    ref = rng.integers(-1, 2, size=500).astype(np.int8)
    np.testing.assert_array_equal(
        cohen_kappa_vs_reference(v, ref), cohen_kappa_vs_reference(v, ref, ones)
    )
