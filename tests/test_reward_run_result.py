"""A stored reward run read as typed values: its explaining parts, and older runs without them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from markit_core.rewards import runs as reward_runs
from markit_core.rewards.bootstrap import BOOTSTRAP_METHOD, DS_NOTE
from markit_core.rewards.compare import COMPARED_RULES
from markit_core.rewards.diagnostics import KAPPA_CI_METHOD, NO_AI_REFERENCE
from markit_core.rewards.labelling_time import TIME_CI_METHOD
from markit_core.rewards.run_inputs import answers_table
from markit_core.rewards.run_result import RunResult, run_result
from tests.review_helpers import ANNOTATORS, build_example
from tests.test_reward_qc_settings import effusion_ai

# What analyse_rewards added to a stored result; a run stored before it lacks these keys.
PART_KEYS = ("reward_ci", "rank_ci", "bootstrap", "quality_control", "rule_comparison")
PART_KEYS += ("time_table",)


@pytest.fixture
def ex(session, settings, make_user, make_project):
    return build_example(session, settings, make_user, make_project)


def _stored(session, ex, **kwargs) -> tuple[reward_runs.RunRecord, RunResult]:
    run_id, _ = reward_runs.run_rewards(session, ex.owner, ex.project.id, budget=100, **kwargs)
    record = reward_runs.get_run(session, ex.owner, ex.project.id, run_id)
    return record, run_result(record)


def test_a_stored_run_parses_into_its_typed_parts(session, ex):
    record, run = _stored(session, ex, ai=effusion_ai(ex), n_resamples=200, seed=3)
    assert not hasattr(run, "raw")  # nothing outside run_result reads the JSON

    iv = run.intervals
    assert iv is not None
    assert [a.annotator for a in iv.annotators] == list(ANNOTATORS)
    for a in iv.annotators:
        assert a.reward == pytest.approx(record.result["rewards"][a.annotator])
        assert a.low is not None and a.high is not None
        assert a.low <= a.reward + 1e-9 and a.reward <= a.high + 1e-9
        assert a.rank_low is not None and a.rank_high is not None
        assert 1 <= a.rank_low <= a.rank_high <= len(ANNOTATORS)
        assert 1 <= a.rank <= len(ANNOTATORS)
    assert iv.of("ann_b") == iv.annotators[1]
    with pytest.raises(KeyError):
        iv.of("nobody")
    assert [list(p) for p in iv.overlaps] == record.result["bootstrap"]["overlaps"]
    assert (iv.method, iv.resamples, iv.seed, iv.level) == (BOOTSTRAP_METHOD, 200, 3, 0.95)
    assert iv.truth_note is None and 0 <= iv.failed <= 200

    qc = run.qc
    assert qc is not None and qc.kappa_ci_method == KAPPA_CI_METHOD
    assert [d.label for d in qc.labels] == ["effusion", "pneumothorax"]
    effusion, pneumothorax = qc.labels
    assert effusion.ai_items == 4 and effusion.status == "quality control applied"
    assert effusion.prevalence_ai == pytest.approx(0.5)
    assert (pneumothorax.ai_items, pneumothorax.status) == (0, NO_AI_REFERENCE)
    assert pneumothorax.prevalence_ai is None and pneumothorax.warnings == ()
    (excl,) = qc.exclusions
    assert (excl.annotator, excl.label, excl.applied) == ("ann_a", "effusion", True)
    assert excl.kappa == pytest.approx(run.exclusions[0].kappa)
    assert excl.shared_items == run.exclusions[0].shared_items == 4
    assert excl.ci_low is not None and excl.ci_high is not None and excl.ci_low <= excl.ci_high
    assert any(w.startswith("rare label") for w in excl.warnings)

    rules = run.rules
    assert rules is not None
    assert [r.rule for r in rules] == list(COMPARED_RULES)
    assert [r.title for r in rules] == list(COMPARED_RULES.values())
    majority, dawid_skene, adjudication = rules
    assert majority.error is None and majority.rewards is not None
    assert majority.rewards == pytest.approx(record.result["rewards"])  # the run's own rule
    assert majority.excluded == (("ann_a", "effusion"),)
    assert dawid_skene.rewards is not None and set(dawid_skene.rewards) == set(ANNOTATORS)
    assert adjudication.rewards is None and adjudication.error == "no adjudications recorded"

    table = run.time_table
    timed = answers_table(session, ex.project.id)
    assert table is not None and timed is not None and timed.seconds is not None
    assert table.overall.label == "overall"
    assert table.overall.n == int(np.count_nonzero(~np.isnan(timed.seconds))) == 24
    assert sum(t.n for t in table.by_label) == table.overall.n
    assert [t.label for t in table.by_label] == ["effusion", "pneumothorax"]
    assert [t.mean for t in table.by_label] == pytest.approx([5.0, 10.0])
    assert table.overall.mean == pytest.approx(7.5) and table.method == TIME_CI_METHOD
    assert table.overall.half_width is not None and table.overall.half_width > 0


def test_a_dawid_skene_run_says_its_intervals_hold_the_fit_fixed(session, ex):
    _, run = _stored(session, ex, truth="dawid_skene", n_resamples=50)
    assert run.intervals is not None and run.intervals.truth_note == DS_NOTE
    assert run.qc is not None and run.qc.exclusions == ()  # no AI reference: nobody excluded
    assert all(d.status == NO_AI_REFERENCE for d in run.qc.labels)


def test_a_run_without_bootstrap_has_no_intervals(session, ex):
    _, run = _stored(session, ex, n_resamples=0)
    assert run.intervals is None
    assert run.qc is not None and run.rules is not None and run.time_table is not None


def test_an_older_run_has_no_parts_and_the_rest_still_reads(session, ex):
    record, full = _stored(session, ex, n_resamples=20)
    old = {k: v for k, v in record.result.items() if k not in PART_KEYS}
    # before payouts were rounded: the exact shares only, no decimals
    del old["payouts"], old["decimals"]
    run = run_result(dataclasses.replace(record, result=old))
    assert (run.intervals, run.qc, run.rules, run.time_table) == (None, None, None, None)
    assert run.decimals == 2
    assert [(p.annotator, p.reward) for p in run.pay] == [
        (p.annotator, pytest.approx(p.reward)) for p in full.pay
    ]
    assert run.times == full.times and run.agreement == full.agreement


def test_an_undefined_kappa_is_read_as_none(session, ex):
    record, _ = _stored(session, ex, ai=effusion_ai(ex), n_resamples=0)
    result = dict(record.result)
    # A reader and an AI who never answer "present" have no kappa (stored None); such a
    # pair is excluded by the paper's rule (kappa not above the threshold).
    result["excluded"] = [{**e, "kappa": None} for e in result["excluded"]]
    qc = dict(result["quality_control"])
    qc["exclusions"] = [{**e, "kappa": None, "ci_low": None, "se": None} for e in qc["exclusions"]]
    result["quality_control"] = qc
    run = run_result(dataclasses.replace(record, result=result))
    assert run.exclusions[0].kappa is None
    assert run.qc is not None
    (excl,) = run.qc.exclusions
    assert (excl.kappa, excl.ci_low, excl.se) == (None, None, None)
    assert excl.ci_high is not None
