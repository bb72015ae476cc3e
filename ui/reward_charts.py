"""Plotly figures of the rewards page: rewards, per-label contributions, time box plots.

Annotator and label names, the currency and the run's rule titles reach Plotly,
which reads HTML-like tags in text: they go through ``ui.text.plain_html``."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from markit_core.rewards.run_result import RunResult
from markit_core.rewards.run_result_parts import ExclusionQc, RulePayout, TimeTable
from ui.style import annotator_color, colour
from ui.text import plain_all, plain_html


def _given(x: float | None, default: float) -> float:
    return default if x is None else float(x)


def _gap(upper: float | None, lower: float | None) -> float:
    """``upper - lower``, the length of an error bar; 0 where either end is undefined."""
    return 0.0 if upper is None or lower is None else upper - lower


def rewards_bar(run: RunResult) -> go.Figure:
    """Rewards, with the bootstrap's 95 % interval as error bars when the run has one."""
    unit = run.currency
    names = [p.annotator for p in run.pay]
    y = [p.reward for p in run.pay]
    bar = go.Bar(
        x=plain_all(names),
        y=y,
        text=[f"{p.reward:.{run.decimals}f}" for p in run.pay],
        customdata=[p.score for p in run.pay],
        hovertemplate="%{x}: %{y:.2f} "
        + plain_html(unit)
        + "<br>score S %{customdata:.4f}<extra></extra>",
    )
    title = "Rewards"
    if run.intervals is not None:
        ci = [run.intervals.of(a) for a in names]
        low = [_given(c.low, v) for c, v in zip(ci, y, strict=True)]
        high = [_given(c.high, v) for c, v in zip(ci, y, strict=True)]
        bar.error_y = go.bar.ErrorY(
            type="data",
            symmetric=False,
            array=[max(h - v, 0.0) for h, v in zip(high, y, strict=True)],
            arrayminus=[max(v - lo, 0.0) for lo, v in zip(low, y, strict=True)],
        )
        title = "Rewards with 95 % bootstrap intervals"
    fig = go.Figure(bar)
    fig.update_layout(title=title, yaxis_title=plain_html(unit) or "reward", height=360)
    return fig


def rule_comparison_bar(rules: Sequence[RulePayout], names: Sequence[str], unit: str) -> go.Figure:
    """Rewards under each truth rule, grouped by annotator (rules without a split left out)."""
    fig = go.Figure(
        [
            go.Bar(
                name=plain_html(o.title),
                x=plain_all(names),
                y=[o.rewards[a] for a in names],
            )
            for o in rules
            if o.rewards
        ]
    )
    fig.update_layout(
        barmode="group",
        title="Rewards by truth rule",
        yaxis_title=plain_html(unit) or "reward",
        height=360,
    )
    return fig


def exclusion_kappa_chart(rows: Sequence[ExclusionQc], threshold: float) -> go.Figure:
    """Each exclusion's kappa vs AI with its 95 % CI, against the threshold."""
    names = [f"{e.annotator} · {e.label}" for e in rows]
    fig = go.Figure(
        go.Scatter(
            x=[e.kappa for e in rows],
            y=plain_all(names),
            mode="markers",
            error_x=go.scatter.ErrorX(
                type="data",
                symmetric=False,
                array=[_gap(e.ci_high, e.kappa) for e in rows],
                arrayminus=[_gap(e.kappa, e.ci_low) for e in rows],
            ),
        )
    )
    fig.add_vline(x=threshold, line_dash="dash")
    fig.update_layout(
        title="Excluded pairs: kappa vs AI with 95 % CI (dashed: threshold)",
        xaxis_title="Cohen's kappa vs AI",
        height=160 + 30 * len(rows),
    )
    return fig


def time_ci_chart(table: TimeTable) -> go.Figure:
    """The paper's time table as a chart: mean seconds per label with the 95 % CI."""
    rows = [t for t in table.by_label if t.n]
    fig = go.Figure(
        go.Bar(
            x=plain_all([t.label for t in rows]),
            y=[t.mean for t in rows],
            error_y=go.bar.ErrorY(type="data", array=[_given(t.half_width, 0.0) for t in rows]),
        )
    )
    overall = _given(table.overall.mean, 0.0)  # a table exists only with timed answers
    fig.add_hline(y=overall, line_dash="dash")
    fig.update_layout(
        title=f"Mean labelling time ± 95 % CI (dashed: overall {overall:.2f} s)",
        yaxis_title="seconds",
        height=420,
    )
    return fig


def contributions_bar(run: RunResult) -> go.Figure:
    names, labels = [p.annotator for p in run.pay], [lf.label for lf in run.labels]
    fig = go.Figure(
        [
            go.Bar(
                name=plain_html(lab),
                x=plain_all(names),
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
                name=plain_html(name),
                x=plain_all(have),
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
