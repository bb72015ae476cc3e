"""Plotly figures of the rewards page: rewards, per-label contributions, time box plots."""

from __future__ import annotations

import plotly.graph_objects as go

from markit_core.rewards.run_result import RunResult
from ui.style import annotator_color, colour


def rewards_bar(run: RunResult) -> go.Figure:
    unit = run.currency
    fig = go.Figure(
        go.Bar(
            x=[p.annotator for p in run.pay],
            y=[p.reward for p in run.pay],
            text=[f"{p.reward:.2f}" for p in run.pay],
            customdata=[p.score for p in run.pay],
            hovertemplate="%{x}: %{y:.2f} " + unit + "<br>score S %{customdata:.4f}<extra></extra>",
        )
    )
    fig.update_layout(title="Rewards", yaxis_title=unit or "reward", height=360)
    return fig


def contributions_bar(run: RunResult) -> go.Figure:
    names, labels = [p.annotator for p in run.pay], [lf.label for lf in run.labels]
    fig = go.Figure(
        [
            go.Bar(
                name=lab,
                x=names,
                y=[run.contributions[a][lab] for a in names],
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


def time_boxes(run: RunResult) -> go.Figure:
    """The paper's Fig. 4: seconds per label, one box per annotator (precomputed quartiles)."""
    boxes = run.time_boxes
    labels = [lf.label for lf in run.labels if lf.label in boxes]
    fig = go.Figure()
    for name in (p.annotator for p in run.pay):
        have = [lab for lab in labels if name in boxes[lab]]
        if not have:
            continue
        stat = [boxes[lab][name] for lab in have]
        fig.add_trace(
            go.Box(
                name=name,
                x=have,
                q1=[b["q1"] for b in stat],
                median=[b["median"] for b in stat],
                q3=[b["q3"] for b in stat],
                lowerfence=[b["lowerfence"] for b in stat],
                upperfence=[b["upperfence"] for b in stat],
                mean=[b["mean"] for b in stat],
                marker_color=annotator_color(name),
            )
        )
    fig.update_layout(
        boxmode="group",
        title="Labelling time per label and annotator",
        yaxis_title="seconds",
        height=420,
    )
    return fig
