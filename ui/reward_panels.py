"""Panels of the rewards page that explain a stored run: QC diagnostics, intervals, rules, times.

Each panel draws from the typed stored run only (``RunResult``, so an old run
looks as it did when paid) and draws nothing for an older run that lacks its
part (the part is None there).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlmodel import Session

from markit_core.errors import MarkitError
from markit_core.models import User
from markit_core.rewards import settings as reward_settings
from markit_core.rewards.run_result import RunResult
from markit_core.rewards.run_result_parts import ExclusionQc
from ui.reward_charts import exclusion_kappa_chart, rule_comparison_bar, time_ci_chart
from ui.session import show_error
from ui.tables import DASH


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def intervals_panel(run: RunResult) -> None:
    """Each annotator's 95 % interval for reward and rank, and which intervals overlap."""
    iv = run.intervals
    if iv is None:
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "annotator": a.annotator,
                    "reward": a.reward,
                    "95 % low": a.low,
                    "95 % high": a.high,
                    "rank": a.rank,
                    "rank 95 % interval": f"{a.rank_low}–{a.rank_high}",
                }
                for a in iv.annotators
            ]
        ),
        hide_index=True,
        width="stretch",
        key="rw_intervals",
        column_config={
            c: st.column_config.NumberColumn(format="%.2f")
            for c in ("reward", "95 % low", "95 % high")
        },
        placeholder=DASH,
    )
    if iv.overlaps:
        pairs = "; ".join(f"{a} and {b}" for a, b in iv.overlaps)
        st.info(
            f"Overlapping 95 % intervals: {pairs}. The data do not clearly separate these "
            "annotators' rewards.",
            icon=":material/compare_arrows:",
        )
    else:
        st.success("No two annotators' 95 % intervals overlap.")
    note = f" {iv.truth_note}." if iv.truth_note else ""
    failed = f" {iv.failed} resamples had no positive score." if iv.failed else ""
    st.caption(f"Method: {iv.method}; {iv.resamples} resamples, seed {iv.seed}.{note}{failed}")


def _exclusions_table(exclusions: tuple[ExclusionQc, ...]) -> None:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "annotator": e.annotator,
                    "label": e.label,
                    "kappa vs AI": e.kappa,
                    "95 % CI": f"{_fmt(e.ci_low)} to {_fmt(e.ci_high)}",
                    "SE": e.se,
                    "shared images": e.shared_items,
                    "applied": "excluded" if e.applied else "kept (AI untrusted)",
                    "warnings": " · ".join(e.warnings) or "—",
                }
                for e in exclusions
            ]
        ),
        hide_index=True,
        width="stretch",
        key="rw_exclusions",
        column_config={
            "kappa vs AI": st.column_config.NumberColumn(format="%.3f"),
            "SE": st.column_config.NumberColumn(format="%.3f"),
        },
        placeholder=DASH,
    )


def qc_panel(run: RunResult) -> bool:
    """Per-label diagnostics and each exclusion with its kappa CI and warnings.

    Returns False for an older run without diagnostics (the caller shows its
    plain exclusion list then).
    """
    qc = run.qc
    if qc is None:
        return False
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "label": d.label,
                    "status": d.status,
                    "items with AI": d.ai_items,
                    "prevalence (consensus)": d.prevalence_consensus,
                    "prevalence (AI)": d.prevalence_ai,
                    "positives": d.positives,
                    "AI kappa vs consensus": d.ai_kappa_vs_consensus,
                    "warnings": " · ".join(d.warnings),
                }
                for d in qc.labels
            ]
        ),
        hide_index=True,
        width="stretch",
        key="rw_qc_labels",
        column_config={
            "prevalence (consensus)": st.column_config.NumberColumn(format="percent"),
            "prevalence (AI)": st.column_config.NumberColumn(format="percent"),
            "AI kappa vs consensus": st.column_config.NumberColumn(format="%.3f"),
        },
        placeholder=DASH,
    )
    if qc.exclusions:
        _exclusions_table(qc.exclusions)
        for e in qc.exclusions:
            for w in e.warnings:
                st.warning(f"{e.annotator} on {e.label}: {w}", icon=":material/warning:")
        st.plotly_chart(
            exclusion_kappa_chart(qc.exclusions, run.kappa_threshold),
            key="rw_excl_kappa",
            width="stretch",
        )
        st.caption(f"Kappa CI: {qc.kappa_ci_method}.")
    elif any(d.ai_items for d in qc.labels):
        st.success("No exclusions: every annotator agrees with the AI above the threshold.")
    else:
        st.info("No AI reference in this project, so quality control excluded nobody.")
    return True


def rules_panel(run: RunResult) -> None:
    """The same run under every truth rule: rewards and number of exclusions."""
    rules = run.rules
    if not rules:
        return
    names = [p.annotator for p in run.pay]
    rows = []
    for a in names:
        row: dict[str, object] = {"annotator": a}
        for o in rules:
            row[o.title] = None if o.rewards is None else o.rewards[a]
        rows.append(row)
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        key="rw_rules",
        column_config={o.title: st.column_config.NumberColumn(format="%.2f") for o in rules},
        placeholder=DASH,
    )
    for o in rules:
        if o.error:
            st.caption(f"{o.title}: {o.error}.")
        else:
            excl = ", ".join(f"{a} on {lab}" for a, lab in o.excluded) or "none"
            st.caption(f"{o.title}: exclusions {excl}.")
    st.plotly_chart(
        rule_comparison_bar(rules, names, run.currency), key="rw_rules_bar", width="stretch"
    )


def time_table_panel(run: RunResult) -> None:
    """The paper's time table: per label and overall mean with its 95 % CI."""
    table = run.time_table
    if table is None:
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "label": r.label,
                    "n": r.n,
                    "mean (s)": r.mean,
                    "± 95 % CI (s)": r.half_width,
                    "median (s)": r.median,
                }
                for r in (table.overall, *table.by_label)
            ]
        ),
        hide_index=True,
        width="stretch",
        key="rw_time_table",
        column_config={
            c: st.column_config.NumberColumn(format="%.2f")
            for c in ("mean (s)", "± 95 % CI (s)", "median (s)")
        },
        placeholder=DASH,
    )
    st.caption(f"CI method: {table.method}.")
    st.plotly_chart(time_ci_chart(table), key="rw_time_ci", width="stretch")


def qc_settings_form(session: Session, user: User, project_id: int) -> None:
    """The project's quality-control settings (saved for the next runs)."""
    current = reward_settings.get_qc_settings(session, user, project_id)
    with st.expander("Quality-control settings of this project"), st.form("rw_qc_form"):
        c = st.columns(3)
        trust = c[0].number_input(
            "AI trust level (kappa vs consensus)",
            -1.0,
            1.0,
            float(current.trust_level),
            0.05,
            key="rw_trust",
            format="%.2f",
        )
        minimum = c[1].number_input(
            "Minimum positives per label", 0, 100000, int(current.min_positives), key="rw_min_pos"
        )
        gate = c[2].checkbox(
            "Quality control only where the AI is trusted",
            bool(current.trusted_ai_only),
            key="rw_gate",
            help="Off: the paper's rule on every label with an AI reference.",
        )
        if st.form_submit_button("Save settings", key="rw_qc_save"):
            try:
                reward_settings.update_qc_settings(
                    session,
                    user,
                    project_id,
                    trust_level=trust,
                    min_positives=minimum,
                    trusted_ai_only=gate,
                )
            except MarkitError as e:
                show_error(e)
            else:
                st.success("Settings saved; they apply to the next run.")
