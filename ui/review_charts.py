"""Plotly figures of the review page: answer and kappa heatmaps, a case with its regions."""

from __future__ import annotations

import base64
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go

from markit_core.review import views as review

MAX_HEATMAP_CASES = 400  # one row per case: more would not be readable anyway
# answer heatmap: -1 absent ... +1 present, |z| grows with confidence (0.5 at 0 %, 1 at 100 %)
ANSWER_SCALE = [
    [0.0, "#08519c"],
    [0.25, "#9ecae1"],
    [0.5, "#f7f7f7"],
    [0.75, "#fcae91"],
    [1.0, "#a50f15"],
]


def _nan_to_none(z: np.ndarray) -> list:
    return [[None if not np.isfinite(x) else float(x) for x in row] for row in np.asarray(z, float)]


def answer_heatmap(m: review.LabelMatrix) -> go.Figure:
    """Cases x annotators: colour = answer, depth = confidence (first MAX_HEATMAP_CASES cases)."""
    n = MAX_HEATMAP_CASES
    m = replace(
        m,
        case_ids=m.case_ids[:n],
        case_names=m.case_names[:n],
        values=m.values[:n],
        confidence=m.confidence[:n],
        consensus=m.consensus[:n],
        adjudicated=m.adjudicated[:n],
    )
    conf = np.where(np.isnan(m.confidence), 100.0, m.confidence)
    signed = np.where(m.values == 1, 1.0, -1.0) * (0.5 + 0.5 * conf / 100.0)
    z = np.where(m.values < 0, np.nan, signed)
    text = [
        [
            (
                "—"
                if v < 0
                else ("present" if v else "absent") + ("" if np.isnan(c) else f" ({c:.0f} %)")
            )
            for v, c in zip(vr, cr, strict=True)
        ]
        for vr, cr in zip(m.values, m.confidence, strict=True)
    ]
    cons = ["present" if c == 1 else "absent" for c in m.consensus]
    custom = [
        [f"{cn}{' (adjudicated)' if adj else ''}"] * len(m.annotators)
        for cn, adj in zip(cons, m.adjudicated, strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=_nan_to_none(z),
            x=list(m.annotators),
            y=list(m.case_names),
            zmin=-1,
            zmax=1,
            colorscale=ANSWER_SCALE,
            text=text,
            customdata=custom,
            xgap=1,
            ygap=1,
            hovertemplate="%{y} · %{x}: %{text}<br>consensus: %{customdata}<extra></extra>",
            colorbar={
                "title": "answer",
                "tickvals": [-1, 0, 1],
                "ticktext": ["absent", "", "present"],
            },
        )
    )
    fig.update_layout(
        title=f"{m.label}: answers (colour depth = confidence)",
        height=max(300, 22 * len(m.case_ids) + 120),
        yaxis={"autorange": "reversed"},
    )
    return fig


def kappa_heatmap(
    z: np.ndarray, x: list[str], y: list[str], counts: np.ndarray, title: str
) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=_nan_to_none(z),
            x=x,
            y=y,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            xgap=1,
            ygap=1,
            text=[[f"{v:.2f}" if np.isfinite(v) else "—" for v in row] for row in z],
            texttemplate="%{text}",
            customdata=counts,
            hovertemplate="%{y} · %{x}: kappa %{text} on %{customdata} items<extra></extra>",
            colorbar={"title": "kappa"},
        )
    )
    fig.update_layout(
        title=title, height=max(280, 40 * len(y) + 140), yaxis={"autorange": "reversed"}
    )
    return fig


def case_figure(
    jpeg: bytes, mapping, regions: tuple[review.RegionView, ...], colour: str
) -> go.Figure:
    """The rendered image with one annotator's regions drawn in image pixel coordinates."""
    cols, rows = mapping.image_size
    fig = go.Figure()
    fig.add_layout_image(
        source="data:image/jpeg;base64," + base64.b64encode(jpeg).decode(),
        xref="x",
        yref="y",
        x=0,
        y=0,
        sizex=cols,
        sizey=rows,
        sizing="stretch",
        layer="below",
    )
    for r in regions:
        xs, ys = [p[0] for p in r.points], [p[1] for p in r.points]
        if r.shape == "rect":
            fig.add_shape(
                type="rect",
                x0=min(xs),
                y0=min(ys),
                x1=max(xs),
                y1=max(ys),
                line={"color": colour, "width": 2},
                label={
                    "text": r.label,
                    "font": {"color": colour, "size": 10},
                    "textposition": "top left",
                },
            )
        else:
            closed = r.shape == "polygon"
            path = "M " + " L ".join(f"{x},{y}" for x, y in r.points) + (" Z" if closed else "")
            fig.add_shape(type="path", path=path, line={"color": colour, "width": 2})
    fig.update_xaxes(range=[0, cols], visible=False, constrain="domain")
    fig.update_yaxes(range=[rows, 0], visible=False, scaleanchor="x", constrain="domain")
    fig.update_layout(height=300, margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig
