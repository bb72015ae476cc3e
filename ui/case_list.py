"""The annotate page's case list: every case with its status, a filter, and a jump.

Statuses come from ``markit_core.annotation.navigation.case_list``; this only renders
them. It is shown whether or not the queue is finished, so no reader is stranded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from markit_core.annotation.navigation import STATUSES, CaseEntry
from ui.tables import DASH

K_FILTER = "case_filter"
K_JUMP = "case_jump"
STATUS_ICONS = {"unread": "○", "draft": "◐", "submitted": "●", "disagreement": "⚠"}


def entry_text(entry: CaseEntry) -> str:
    """One line per case: position, name and status."""
    return f"{entry.position}. {entry.name} — {STATUS_ICONS[entry.status]} {entry.status}"


def _on_jump(go: Callable[[int], None]) -> None:
    chosen = st.session_state.get(K_JUMP)
    if chosen is not None:
        go(int(chosen))


def case_list_panel(entries: Sequence[CaseEntry], case_id: int, go: Callable[[int], None]) -> None:
    """A "Cases" popover: counts per status, a status filter and a jump list."""
    counts = {s: sum(e.status == s for e in entries) for s in STATUSES}
    with st.popover(
        f"Cases ({len(entries)})", icon=":material/list:", width="stretch", key="case_list"
    ):
        st.caption(" · ".join(f"{STATUS_ICONS[s]} {counts[s]} {s}" for s in STATUSES))
        wanted = st.pills(
            "Show", STATUSES, key=K_FILTER, selection_mode="multi", default=list(STATUSES)
        ) or list(STATUSES)
        shown = [e for e in entries if e.status in wanted or e.case_id == case_id]
        by_id = {e.case_id: e for e in shown}
        st.session_state[K_JUMP] = case_id if case_id in by_id else None
        st.selectbox(
            "Go to case",
            list(by_id),
            key=K_JUMP,
            format_func=lambda cid: entry_text(by_id[cid]),
            on_change=_on_jump,
            args=(go,),
            index=None,
            placeholder="Choose a case",
        )
        st.dataframe(
            [
                {"#": e.position, "case": e.name, "status": f"{STATUS_ICONS[e.status]} {e.status}"}
                for e in shown
            ],
            hide_index=True,
            key="case_table",
            height=min(38 + 35 * len(shown), 360),
            placeholder=DASH,
        )
