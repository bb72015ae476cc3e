"""Rewards page (PIs and owners): run Algorithm 1 / Eq. 1 on the project's answers.

A run is computed and stored by ``markit_core.rewards.runs.run_rewards`` (with
its parameters and a ledger entry); everything below the form is drawn from
the stored run, so an old run looks exactly as it did when it was paid.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from markit_core.access import Action
from markit_core.errors import MarkitError
from markit_core.rewards import runs as reward_runs
from markit_core.rewards.engine import TRUTH_RULES, NoPositiveScoresError
from markit_core.rewards.run_result import RunResult, run_result
from ui.reward_charts import contributions_bar, rewards_bar, time_boxes
from ui.reward_panels import (
    intervals_panel,
    qc_panel,
    qc_settings_form,
    rules_panel,
    time_table_panel,
)
from ui.session import show_error
from ui.style import TRUTH_RULE_NAMES
from ui.tables import DASH
from ui.text import plain
from ui.widgets import page_start

RUN_KEY = "rw_run_pick"


def _kappa(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.3f}"


def show_payout(run: RunResult, record: reward_runs.RunRecord) -> None:
    """Who gets what: the table, the bar chart (with intervals), the CSV."""
    amount = f"reward ({run.currency or 'amount'})"
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "annotator": p.annotator,
                    amount: p.reward,
                    "score S": p.score,
                    "excluded on": ", ".join(p.excluded_on),
                }
                for p in run.pay
            ]
        ),
        hide_index=True,
        width="stretch",
        key="rw_table",
        column_config={
            amount: st.column_config.NumberColumn(format="%.2f"),
            "score S": st.column_config.NumberColumn(format="%.4f"),
        },
        placeholder=DASH,
    )
    st.plotly_chart(rewards_bar(run), key="rw_bar", width="stretch")
    intervals_panel(run)
    st.download_button(
        "Download rewards CSV",
        reward_runs.run_csv(record),
        file_name=f"rewards_run_{run.id}.csv",
        mime="text/csv",
        key="rw_csv",
        icon=":material/download:",
    )
    if run.anyone_unpaid:
        st.caption(
            "Annotators with a score S ≤ 0 are paid nothing; the budget is split over "
            "the positive scores."
        )


def show_labels(run: RunResult) -> None:
    st.subheader("Per-label breakdown")
    st.plotly_chart(contributions_bar(run), key="rw_contrib", width="stretch")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "label": lf.label,
                    "T (share positive)": lf.t,
                    "tbar (time factor)": lf.tbar,
                    "mean seconds": lf.mean_seconds,
                    "Fleiss' kappa": lf.fleiss_kappa,
                }
                for lf in run.labels
            ]
        ),
        hide_index=True,
        width="stretch",
        key="rw_labels",
        placeholder=DASH,
    )


def show_quality_control(run: RunResult) -> None:
    st.subheader("Quality control")
    if qc_panel(run):
        pass  # diagnostics drawn; runs stored before them fall through to the plain list
    elif run.exclusions:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "annotator": e.annotator,
                        "label": e.label,
                        "kappa vs AI": e.kappa,
                        "shared images": e.shared_items,
                        "reason": f"kappa vs AI {_kappa(e.kappa)} ≤ threshold "
                        f"{run.kappa_threshold:g}: "
                        f"answers dropped (no vote, no pay) on this label",
                    }
                    for e in run.exclusions
                ]
            ),
            hide_index=True,
            width="stretch",
            key="rw_exclusions",
            placeholder=DASH,
        )
    elif run.ai_reference:
        st.success(
            "No exclusions: every annotator agrees with the AI above the threshold on every label."
        )
    else:
        st.info(
            "No AI reference in this project, so quality control excluded nobody. Choose an "
            "active pathology model and run it over the project on the AI-assist page: its "
            "stored predictions become the reference."
        )
    g = run.agreement
    c = st.columns(4)
    c[0].metric("Items (all readers)", g.items)
    c[1].metric("Disagreements", g.disagreements)
    c[2].metric(
        "Full agreement",
        "—" if g.full_agreement_rate is None else f"{g.full_agreement_rate:.1%}",
    )
    c[3].metric("Fleiss' kappa", "—" if g.fleiss_kappa is None else f"{g.fleiss_kappa:.3f}")


def show_times(run: RunResult) -> None:
    st.subheader("Time statistics")
    if not run.times:
        st.info("No labelling times were recorded for these answers.")
        return
    st.dataframe(
        pd.DataFrame(
            [vars(t) for t in run.times],
            columns=[
                "label",
                "annotator",
                "n",
                "mean",
                "half_width",
                "median",
                "ci_low",
                "ci_high",
            ],
        ),
        hide_index=True,
        width="stretch",
        key="rw_times",
        column_config={"half_width": st.column_config.NumberColumn("± (95 % CI)")},
        placeholder=DASH,
    )
    left, right = st.columns(2)
    with left:
        time_table_panel(run)
    with right:
        st.plotly_chart(time_boxes(run), key="rw_box", width="stretch")


def show_run(record: reward_runs.RunRecord) -> None:
    run = run_result(record)
    st.caption(
        f"Run {run.id} by {plain(run.run_by)} at {run.at} · budget {run.budget:g} "
        f"{plain(run.currency)} · "
        f"truth {TRUTH_RULE_NAMES.get(run.truth, run.truth)} · kappa threshold "
        f"{run.kappa_threshold:g} · {run.answers} answers · input "
        f"SHA-256 {run.input_sha256[:12]}…"
    )
    if run.ds_converged is False:
        st.warning(
            f"Dawid–Skene did not converge ({run.ds_iterations} iterations): the "
            "pseudo answers, and so these rewards, may change if the run is repeated. "
            "Compare with the majority rule before paying.",
            icon=":material/warning:",
        )
    show_payout(run, record)
    show_labels(run)
    show_quality_control(run)
    if run.rules:
        st.subheader("Which rule decides")
        rules_panel(run)
    show_times(run)


s, user, project = page_start(
    "Rewards",
    Action.REWARDS,
    "Rewards are for project owners and managers; you have no such project.",
)
try:
    with st.form("reward_form"):
        c = st.columns(4)
        budget = c[0].number_input(
            "Budget", min_value=0.01, value=1000.0, step=100.0, key="rw_budget"
        )
        currency = c[1].text_input(
            "Currency", "tokens", max_chars=reward_runs.MAX_CURRENCY, key="rw_currency"
        )
        threshold = c[2].number_input(
            "Kappa threshold (vs AI)", -1.0, 1.0, 0.05, 0.01, key="rw_kappa", format="%.2f"
        )
        truth = c[3].radio(
            "Truth rule", TRUTH_RULES, format_func=TRUTH_RULE_NAMES.get, key="rw_truth"
        )
        if st.form_submit_button("Compute rewards", type="primary", key="reward_submit"):
            try:
                run_id, _ = reward_runs.run_rewards(
                    s,
                    user,
                    project.id,
                    budget=budget,
                    currency=currency,
                    kappa_threshold=threshold,
                    truth=truth,
                )
            except NoPositiveScoresError as e:
                show_error(e)
                st.dataframe(
                    pd.DataFrame({"annotator": list(e.scores), "score S": list(e.scores.values())}),
                    hide_index=True,
                    key="rw_failed_scores",
                    placeholder=DASH,
                )
            except MarkitError as e:
                show_error(e)
            else:
                st.session_state[RUN_KEY] = run_id
                st.success(f"Run {run_id} stored and logged in the ledger.")
    qc_settings_form(s, user, project.id)
    runs = reward_runs.list_runs(s, user, project.id)
    if not runs:
        st.info("No reward runs yet in this project.")
        st.stop()
    st.subheader("Runs (audit)")
    st.dataframe(
        pd.DataFrame([vars(r) for r in runs]),
        hide_index=True,
        width="stretch",
        key="rw_runs",
        placeholder=DASH,
    )
    ids = [r.id for r in runs]
    if st.session_state.get(RUN_KEY) not in ids:
        st.session_state[RUN_KEY] = ids[0]
    chosen = st.selectbox(
        "Show run",
        ids,
        key=RUN_KEY,
        format_func=lambda i: next(
            f"run {r.id} · {r.at} · {r.budget:g} {r.currency}" for r in runs if r.id == i
        ),
    )
    show_run(reward_runs.get_run(s, user, project.id, chosen))
except MarkitError as e:
    show_error(e)
finally:
    s.close()
