"""The annotate page's case list: the cases around the current one with their status,
a filter, and jumps.

Statuses come from ``markit_core.annotation.navigation.case_window``; this only renders
them. It is shown whether or not the queue is finished, so no reader is stranded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from markit_core.annotation.navigation import STATUSES, CaseEntry, CaseWindow
from ui.tables import DASH

K_FILTER = "case_filter"
K_JUMP = "case_jump"
K_POSITION = "case_position"
STATUS_ICONS = {"unread": "○", "draft": "◐", "submitted": "●", "disagreement": "⚠"}


def entry_text(entry: CaseEntry) -> str:
    """One line per case: position, name and status."""
    return f"{entry.position}. {entry.name} — {STATUS_ICONS[entry.status]} {entry.status}"


def _on_jump(go: Callable[[int], None]) -> None:
    chosen = st.session_state.get(K_JUMP)
    if chosen is not None:
        go(int(chosen))


def wanted_statuses() -> list[str]:
    """The statuses the filter shows (read before the list is fetched: only those are listed)."""
    return list(st.session_state.get(K_FILTER) or STATUSES)


def _on_position(go: Callable[[int], None], case_ids: Sequence[int]) -> None:
    position = st.session_state.get(K_POSITION)
    if position is not None and 1 <= int(position) <= len(case_ids):
        go(int(case_ids[int(position) - 1]))


def case_list_panel(
    window: CaseWindow, case_id: int, go: Callable[[int], None], case_ids: Sequence[int]
) -> None:
    """A "Cases" popover: counts per status, a status filter, a jump list of the cases
    around this one (a window: a list of 10^5 cases is never sent whole) and a jump by
    position to any case of ``case_ids`` (the queue order)."""
    counts = window.counts
    with st.popover(
        f"Cases ({window.total})", icon=":material/list:", width="stretch", key="case_list"
    ):
        st.caption(" · ".join(f"{STATUS_ICONS[s]} {counts[s]} {s}" for s in STATUSES))
        st.pills("Show", STATUSES, key=K_FILTER, selection_mode="multi", default=list(STATUSES))
        by_id = {e.case_id: e for e in window.entries}
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
                for e in window.entries
            ],
            hide_index=True,
            key="case_table",
            height=min(38 + 35 * len(window.entries), 360),
            placeholder=DASH,
        )
        if len(window.entries) < window.matching:
            st.caption(
                f"{len(window.entries)} of {window.matching} shown, around this case; "
                "go to any by its place in the list:"
            )
        if window.total > len(window.entries):
            st.number_input(
                "Go to position",
                min_value=1,
                max_value=window.total,
                value=None,
                step=1,
                key=K_POSITION,
                on_change=_on_position,
                args=(go, case_ids),
                placeholder=f"1 to {window.total}",
            )
