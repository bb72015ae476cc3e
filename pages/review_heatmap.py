"""Review page: heatmaps, agreement, disagreements with adjudication, calibration.

Reviewers and managers get everything; an annotator (without review rights)
gets only their own calibration, and only in a pilot project that shows
others' answers after submission. All figures come from
``markit_core.review.views``; this page only draws them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from markit_core.access import Action, can
from markit_core.errors import MarkitError
from markit_core.review import views as review
from markit_core.rewards.engine import TRUTH_RULES
from ui.resources import get_settings
from ui.review_charts import (
    MAX_HEATMAP_CASES,
    answer_heatmap,
    case_figure,
    kappa_heatmap,
)
from ui.session import flash, show_error
from ui.style import TRUTH_RULE_NAMES, annotator_color
from ui.tables import DASH
from ui.text import plain
from ui.widgets import page_start

VIEWS = ["Heatmaps", "Disagreements", "Calibration", "AI influence"]
VIEW_KEY = "review_tab"
NEXT_KEY = "dis_next"  # (case id, label id) to open after a saved adjudication


def heatmaps_tab(s, user, project_id: int, truth: str) -> None:
    labels, _ = review.reviewable(s, user, project_id)
    if not labels:
        st.info("This project has no present/absent labels yet.")
        return
    label = st.selectbox("Label", labels, key="review_label")
    m = review.label_matrix(s, user, project_id, label, truth=truth)
    if not m.case_ids:
        st.info(f"No answers to {plain(label)} yet.")
    else:
        if len(m.case_ids) > MAX_HEATMAP_CASES:
            st.caption(
                f"Showing the first {MAX_HEATMAP_CASES} of {len(m.case_ids)} cases; the "
                "Disagreements tab lists every case where readers differ."
            )
        st.plotly_chart(answer_heatmap(m), key="heatmap_cases", width="stretch")
    rel = review.reliability(s, user, project_id, truth=truth)
    if rel.annotators:
        st.plotly_chart(
            kappa_heatmap(
                rel.kappa_vs_consensus,
                list(rel.labels),
                list(rel.annotators),
                rel.items_vs_consensus,
                "Reliability: Cohen's kappa vs consensus",
            ),
            key="heatmap_reliability",
            width="stretch",
        )
        if rel.kappa_vs_ai is not None:
            st.plotly_chart(
                kappa_heatmap(
                    rel.kappa_vs_ai,
                    list(rel.labels),
                    list(rel.annotators),
                    rel.items_vs_ai,
                    "Reliability: Cohen's kappa vs AI",
                ),
                key="heatmap_reliability_ai",
                width="stretch",
            )
        else:
            st.caption("No AI reference in this project yet: kappa vs AI is not shown.")
    pair_label = st.selectbox(
        "Annotator agreement on", ["all labels (pooled)", *labels], key="review_pair_label"
    )
    pa = review.annotator_agreement(
        s, user, project_id, None if pair_label.startswith("all labels") else pair_label
    )
    if pa.annotators:
        st.plotly_chart(
            kappa_heatmap(
                pa.kappa,
                list(pa.annotators),
                list(pa.annotators),
                pa.shared,
                f"Annotator x annotator Cohen's kappa ({pair_label})",
            ),
            key="heatmap_pairs",
            width="stretch",
        )


def disagreements_tab(s, user, project_id: int, truth: str) -> None:
    labels, _ = review.reviewable(s, user, project_id)
    c1, c2 = st.columns([2, 1])
    only = c1.selectbox("Label", ["all labels", *labels], key="dis_label")
    show_done = c2.checkbox("Include adjudicated", value=True, key="dis_show_adjudicated")
    items = review.disagreements(
        s,
        user,
        project_id,
        label=None if only == "all labels" else only,
        include_adjudicated=show_done,
        truth=truth,
    )
    if not items:
        st.success("No disagreements: every case's readers agree on every label.")
        return
    disagreement_table(items)
    # after a saved adjudication: go on to the item chosen then (the list may have shrunk)
    keys = [(d.case_id, d.label_id) for d in items]
    going_to = st.session_state.pop(NEXT_KEY, None)
    if going_to in keys:
        st.session_state["dis_pick"] = keys.index(going_to)
    pick = st.selectbox(
        "Disagreement to review",
        range(len(items)),
        key="dis_pick",
        format_func=lambda i: (
            f"{items[i].case_name} · {items[i].label} "
            f"({items[i].n_true} present / {items[i].n_false} absent)"
        ),
    )
    d = items[pick]
    readers_of(s, user, project_id, d)
    adjudication_form(
        s, user, project_id, d, review.next_disagreement(items, d.case_id, d.label_id)
    )


def disagreement_table(items: list[review.Disagreement]) -> None:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "case": d.case_name,
                    "label": d.label,
                    "present": d.n_true,
                    "absent": d.n_false,
                    "consensus": "present" if d.consensus else "absent",
                    "adjudicated": "yes" if d.adjudication else "",
                    **{a: ("present" if v else "absent") for a, (v, _c) in d.answers.items()},
                }
                for d in items
            ]
        ),
        hide_index=True,
        width="stretch",
        key="dis_table",
        placeholder=DASH,
    )


def readers_of(s, user, project_id: int, d: review.Disagreement) -> None:
    """One column per reader: their answer, and the image with their regions."""
    try:
        picture = review.case_picture(s, get_settings(), user, project_id, d.case_id)
    except MarkitError as e:
        picture = None
        st.warning(f"Image not available: {plain(e)}")
    readers = list(d.regions) or list(d.answers)
    # st.columns needs at least one column; with no readers it stays empty
    for col, name in zip(st.columns(max(len(readers), 1)), readers, strict=False):
        with col:
            answer = d.answers.get(name)
            text = (
                "—"
                if answer is None
                else ("present" if answer[0] else "absent")
                + ("" if answer[1] is None else f" · {answer[1]} %")
            )
            st.markdown(f"**{plain(name)}**: {text}")
            if picture is not None:
                st.plotly_chart(
                    case_figure(
                        picture.data,
                        picture.mapping,
                        d.regions.get(name, ()),
                        annotator_color(name),
                    ),
                    key=f"dis_img_{d.case_id}_{name}",
                    width="stretch",
                )


def adjudication_form(
    s, user, project_id: int, d: review.Disagreement, after: tuple[int, int] | None
) -> None:
    """The reviewer's final answer for the picked disagreement; saving it moves on to
    ``after`` (case id, label id) and stays on this tab."""
    if d.adjudication:
        a = d.adjudication
        st.info(
            f"Adjudicated {'present' if a.value else 'absent'} by {plain(a.reviewer)} at {a.at}"
            + (f": {plain(a.note)}" if a.note else "")
        )
    with st.form("adjudicate_form"):
        default = d.adjudication.value if d.adjudication else d.consensus
        value = st.radio(
            "Final answer",
            ["present", "absent"],
            index=0 if default else 1,
            key="adj_value",
            horizontal=True,
        )
        note = st.text_area(
            "Note (optional)",
            d.adjudication.note if d.adjudication else "",
            key="adj_note",
            max_chars=review.MAX_NOTE,
        )
        if st.form_submit_button("Save final answer", type="primary", key="adjudicate_submit"):
            try:
                review.adjudicate(
                    s, user, project_id, d.case_id, d.label_id, value == "present", note
                )
            except MarkitError as e:
                show_error(e)
            else:
                flash(f"Final answer for {d.case_name} · {d.label}: {value}.")
                if after is not None:
                    st.session_state[NEXT_KEY] = after
                st.rerun()


def calibration_section(s, user, project_id: int, reviewer: bool) -> None:
    who = user.username
    if reviewer:
        _, names = review.reviewable(s, user, project_id)
        if not names:
            st.info("No answers yet.")
            return
        who = st.selectbox("Annotator", names, key="cal_annotator")
    cal = review.calibration(s, user, project_id, who)
    if not cal.cases:
        st.info(
            "Submit some cases first: calibration compares your answers with the other "
            "readers' on the cases you have read."
        )
        return
    c = st.columns(3)
    c[0].metric("Cases compared", cal.cases)
    c[1].metric(
        "Agreement with the others",
        "—" if np.isnan(cal.overall_rate) else f"{cal.overall_rate:.0%}",
    )
    c[2].metric(
        "Kappa vs consensus", "—" if np.isnan(cal.overall_kappa) else f"{cal.overall_kappa:.2f}"
    )
    st.dataframe(
        pd.DataFrame(
            {
                "label": cal.labels,
                "items": cal.items,
                "agreement": cal.agreement_rate,
                "kappa": cal.kappa,
            }
        ),
        hide_index=True,
        width="stretch",
        key="cal_table",
        column_config={"agreement": st.column_config.NumberColumn(format="percent")},
        placeholder=DASH,
    )
    if cal.differences:
        st.caption("Where the answer differed from the other readers' consensus:")
        st.dataframe(
            pd.DataFrame(
                cal.differences, columns=["case id", "case", "label", "answer", "others' consensus"]
            ).replace({True: "present", False: "absent"}),
            hide_index=True,
            width="stretch",
            key="cal_differences",
            placeholder=DASH,
        )


def ai_influence_tab(s, user, project_id: int) -> None:
    """Anchoring: readings made with the AI suggestion visible vs without (issue 10)."""
    from markit_core.inference.prelabels import exposure_report

    rows = exposure_report(s, user, project_id)
    if not any(r.n_with for r in rows):
        st.info(
            "No reading was made with an AI suggestion visible yet (pre-labels are set on "
            "the AI-assist page)."
        )
    st.caption(
        "Per label: readings with / without the suggestion visible; how often the answer "
        "equals the suggestion or was taken with one click; how often an answer given blind "
        "was changed once the suggestion was seen; agreement and Cohen's kappa with the AI."
    )
    st.dataframe(
        pd.DataFrame([vars(r) for r in rows]),
        hide_index=True,
        key="review_ai_influence",
        column_config={
            c: st.column_config.NumberColumn(c, format="%.2f")
            for c in (
                "acceptance_rate",
                "one_click_rate",
                "change_rate",
                "agree_with",
                "agree_without",
                "kappa_with",
                "kappa_without",
            )
        },
        placeholder=DASH,
    )


s, user, project = page_start("Review", Action.VIEW, "You are not in any project yet.")
try:
    if can(s, user, project.id, Action.REVIEW):
        truth = st.sidebar.radio(
            "Consensus where not adjudicated",
            TRUTH_RULES,
            key="review_truth",
            format_func=TRUTH_RULE_NAMES.get,
        )
        # keyed and tracked, so the open tab survives the rerun after an adjudication
        tabs = st.tabs(VIEWS, key=VIEW_KEY, on_change="rerun")
        with tabs[0]:
            heatmaps_tab(s, user, project.id, truth)
        with tabs[1]:
            disagreements_tab(s, user, project.id, truth)
        with tabs[2]:
            calibration_section(s, user, project.id, reviewer=True)
        with tabs[3]:
            ai_influence_tab(s, user, project.id)
    elif can(s, user, project.id, Action.ANNOTATE):
        st.subheader("Calibration: your answers next to the other readers'")
        if project.show_others_after_submit:
            calibration_section(s, user, project.id, reviewer=False)
        else:
            st.info(
                "This project keeps readings independent, so calibration is off. It is "
                "shown in pilot (training) projects that show others' answers after "
                "submission."
            )
    else:
        st.info("Your roles in this project include neither review nor annotation.")
except MarkitError as e:
    show_error(e)
finally:
    s.close()
