"""Plotly figures of the rewards page: rewards, per-label contributions, time box plots."""

from __future__ import annotations

import plotly.graph_objects as go

from markit_core.rewards.run_result import RunResult
from ui.style import annotator_color, colour


def _given(x: float | None, default: float) -> float:
    return default if x is None else float(x)


def rewards_bar(res: dict, unit: str) -> go.Figure:
    """Rewards, with the bootstrap's 95 % interval as error bars when the run has one."""
    paid = res.get("payouts") or res["rewards"]  # runs stored before payouts were rounded
    names = list(paid)
    y = [paid[a] for a in names]
    bar = go.Bar(
        x=names,
        y=y,
        text=[f"{paid[a]:.{res.get('decimals', 2)}f}" for a in names],
        customdata=[res["scores"][a] for a in names],
        hovertemplate="%{x}: %{y:.2f} " + unit + "<br>score S %{customdata:.4f}<extra></extra>",
    )
    ci = res.get("reward_ci")
    title = "Rewards"
    if ci:
        low = [_given(ci[a][0], v) for a, v in zip(names, y, strict=True)]
        high = [_given(ci[a][1], v) for a, v in zip(names, y, strict=True)]
        bar.error_y = go.bar.ErrorY(
            type="data",
            symmetric=False,
            array=[max(h - v, 0.0) for h, v in zip(high, y, strict=True)],
            arrayminus=[max(v - lo, 0.0) for lo, v in zip(low, y, strict=True)],
        )
        title = "Rewards with 95 % bootstrap intervals"
    fig = go.Figure(bar)
    fig.update_layout(title=title, yaxis_title=unit or "reward", height=360)
    return fig


def rule_comparison_bar(res: dict, unit: str) -> go.Figure:
    """Rewards under each truth rule, grouped by annotator (rules without a split left out)."""
    names = list(res["rewards"])
    rules = {r: o for r, o in (res.get("rule_comparison") or {}).items() if o["rewards"]}
    fig = go.Figure(
        [
            go.Bar(name=o["title"], x=names, y=[o["rewards"][a] for a in names])
            for o in rules.values()
        ]
    )
    fig.update_layout(
        barmode="group", title="Rewards by truth rule", yaxis_title=unit or "reward", height=360
    )
    return fig


def exclusion_kappa_chart(res: dict) -> go.Figure:
    """Each exclusion's kappa vs AI with its 95 % CI, against the threshold."""
    rows = res["quality_control"]["exclusions"]
    names = [f"{e['annotator']} · {e['label']}" for e in rows]
    kappa = [e["kappa"] for e in rows]
    fig = go.Figure(
        go.Scatter(
            x=kappa,
            y=names,
            mode="markers",
            error_x=go.scatter.ErrorX(
                type="data",
                symmetric=False,
                array=[_given(e["ci_high"], k) - k for e, k in zip(rows, kappa, strict=True)],
                arrayminus=[k - _given(e["ci_low"], k) for e, k in zip(rows, kappa, strict=True)],
            ),
        )
    )
    fig.add_vline(x=res["parameters"]["kappa_threshold"], line_dash="dash")
    fig.update_layout(
        title="Excluded pairs: kappa vs AI with 95 % CI (dashed: threshold)",
        xaxis_title="Cohen's kappa vs AI",
        height=160 + 30 * len(rows),
    )
    return fig


def time_ci_chart(res: dict) -> go.Figure:
    """The paper's time table as a chart: mean seconds per label with the 95 % CI."""
    table = res["time_table"]
    labels = [lab for lab, t in table["by_label"].items() if t["n"]]
    rows = [table["by_label"][lab] for lab in labels]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=[t["mean"] for t in rows],
            error_y=go.bar.ErrorY(type="data", array=[_given(t["half_width"], 0.0) for t in rows]),
        )
    )
    overall = table["overall"]
    fig.add_hline(y=overall["mean"], line_dash="dash")
    fig.update_layout(
        title=f"Mean labelling time ± 95 % CI (dashed: overall {overall['mean']:.2f} s)",
        yaxis_title="seconds",
        height=420,
    )
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
