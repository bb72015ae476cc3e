"""Plotly figures of the rewards page: rewards, per-label contributions, time box plots."""

from __future__ import annotations

import plotly.graph_objects as go

from ui.style import colour
from ui.text import plain_all, plain_html


def rewards_bar(res: dict, unit: str) -> go.Figure:
    names = list(res["rewards"])
    fig = go.Figure(
        go.Bar(
            x=plain_all(names),
            y=[res["rewards"][a] for a in names],
            text=[f"{res['rewards'][a]:.2f}" for a in names],
            customdata=[res["scores"][a] for a in names],
            hovertemplate="%{x}: %{y:.2f} "
            + plain_html(unit)
            + "<br>score S %{customdata:.4f}<extra></extra>",
        )
    )
    fig.update_layout(title="Rewards", yaxis_title=plain_html(unit) or "reward", height=360)
    return fig


def contributions_bar(res: dict) -> go.Figure:
    names, labels = list(res["rewards"]), list(res["labels"])
    fig = go.Figure(
        [
            go.Bar(
                name=plain_html(lab),
                x=plain_all(names),
                y=[res["contributions"][a][lab] for a in names],
                marker_color=colour(k),
            )
            for k, lab in enumerate(labels)
        ]
    )
    fig.update_layout(
        barmode="relative",
        title="Score S by label: (T + tbar) · Σ D~ r~",
        yaxis_title="contribution to S",
        height=400,
    )
    return fig


def time_boxes(res: dict) -> go.Figure:
    """The paper's Fig. 4: seconds per label, one box per annotator (precomputed quartiles)."""
    boxes = res.get("time_boxes") or {}
    labels = [lab for lab in res["labels"] if lab in boxes]
    fig = go.Figure()
    for i, name in enumerate(res["rewards"]):
        have = [lab for lab in labels if name in boxes[lab]]
        if not have:
            continue
        stat = [boxes[lab][name] for lab in have]
        fig.add_trace(
            go.Box(
                name=plain_html(name),
                x=plain_all(have),
                q1=[b["q1"] for b in stat],
                median=[b["median"] for b in stat],
                q3=[b["q3"] for b in stat],
                lowerfence=[b["lowerfence"] for b in stat],
                upperfence=[b["upperfence"] for b in stat],
                mean=[b["mean"] for b in stat],
                marker_color=colour(i),
            )
        )
    fig.update_layout(
        boxmode="group",
        title="Labelling time per label and annotator",
        yaxis_title="seconds",
        height=420,
    )
    return fig
