"""Fabric.js objects (what streamlit-drawable-canvas returns) as canvas-pixel points.

Follows Fabric.js 7: each object's origin, size with stroke, scale, flip and
rotation, so an object moved or resized with the canvas's edit tool converts
correctly. Used by :mod:`markit_core.annotation.regions`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Point", "number", "object_canvas_points"]

Point = tuple[float, float]

_ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}
_RECT_TYPES = {"rect", "labeledrect"}


def number(obj: Mapping[str, Any], name: str, default: float) -> float:
    """A finite number from a Fabric object's field, else ``default``."""
    value = obj.get(name, default)
    try:
        number = float(value if value is not None else default)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def _origin(value: object) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return _ORIGIN.get(str(value or "left"), 0.0)


def _transform(obj: Mapping[str, Any], local: Sequence[Point]) -> list[Point]:
    """Map points given relative to the object's centre (unscaled) to canvas pixels.

    Follows Fabric.js: ``left``/``top`` place the origin point (``originX``/
    ``originY``); the object's transformed size includes its stroke (scaled unless
    ``strokeUniform``); scale and flip apply first, then the rotation about the origin.
    """
    sx, sy = number(obj, "scaleX", 1.0), number(obj, "scaleY", 1.0)
    stroke = number(obj, "strokeWidth", 0.0)
    w, h = number(obj, "width", 0.0), number(obj, "height", 0.0)
    if obj.get("strokeUniform"):
        dim_x, dim_y = w * abs(sx) + stroke, h * abs(sy) + stroke
    else:
        dim_x, dim_y = (w + stroke) * abs(sx), (h + stroke) * abs(sy)
    angle = math.radians(number(obj, "angle", 0.0))
    cos, sin = math.cos(angle), math.sin(angle)
    ox, oy = (
        (0.5 - _origin(obj.get("originX"))) * dim_x,
        (0.5 - _origin(obj.get("originY"))) * dim_y,
    )
    cx = number(obj, "left", 0.0) + ox * cos - oy * sin
    cy = number(obj, "top", 0.0) + ox * sin + oy * cos
    fx = -1.0 if obj.get("flipX") else 1.0
    fy = -1.0 if obj.get("flipY") else 1.0
    out = []
    for lx, ly in local:
        x, y = lx * sx * fx, ly * sy * fy
        out.append((cx + x * cos - y * sin, cy + x * sin + y * cos))
    return out


def _path_points(path: object) -> tuple[list[Point], list[Point]]:
    """On-curve points of an SVG-like path, and every coordinate (for its bounding box)."""
    on_curve: list[Point] = []
    every: list[Point] = []
    if not isinstance(path, list):
        return on_curve, every
    for command in path:
        if not isinstance(command, (list, tuple)) or not command:
            continue
        op = str(command[0]).upper()
        try:
            nums = [float(v) for v in command[1:]]
        except (TypeError, ValueError):
            continue
        if op in ("M", "L", "T") and len(nums) >= 2:
            on_curve.append((nums[0], nums[1]))
            every.append((nums[0], nums[1]))
        elif op == "Q" and len(nums) >= 4:
            every += [(nums[0], nums[1]), (nums[2], nums[3])]
            on_curve.append((nums[2], nums[3]))
        elif op == "C" and len(nums) >= 6:
            every += [(nums[0], nums[1]), (nums[2], nums[3]), (nums[4], nums[5])]
            on_curve.append((nums[4], nums[5]))
    return on_curve, every


def _centered(points: Sequence[Point], reference: Sequence[Point]) -> list[Point]:
    xs, ys = [p[0] for p in reference], [p[1] for p in reference]
    mx, my = (min(xs) + max(xs)) / 2.0, (min(ys) + max(ys)) / 2.0
    return [(x - mx, y - my) for x, y in points]


def object_canvas_points(obj: Mapping[str, Any]) -> tuple[str, list[Point]] | None:
    """Shape and canvas-pixel points of one Fabric object, or None if not a region.

    ``rect`` gives its two opposite corners (four corners, as a ``polygon``, when
    rotated); ``path`` (free-hand) its on-curve points; ``polygon`` its vertices.
    """
    kind = str(obj.get("type", "")).lower()
    if kind in _RECT_TYPES:
        w = number(obj, "width", 0.0) / 2.0
        h = number(obj, "height", 0.0) / 2.0
        corners = _transform(obj, [(-w, -h), (w, -h), (w, h), (-w, h)])
        if abs(number(obj, "angle", 0.0)) % 360.0 > 1e-6:
            return "polygon", corners
        xs, ys = [p[0] for p in corners], [p[1] for p in corners]
        return "rect", [(min(xs), min(ys)), (max(xs), max(ys))]
    if kind == "polygon":
        raw = obj.get("points")
        if not isinstance(raw, list):
            return None
        try:
            pts = [(float(p["x"]), float(p["y"])) for p in raw]
        except (KeyError, TypeError, ValueError):
            return None
        if not pts:
            return None
        return "polygon", _transform(obj, _centered(pts, pts))
    if kind == "path":
        on_curve, every = _path_points(obj.get("path"))
        if not on_curve:
            return None
        return "path", _transform(obj, _centered(on_curve, every))
    return None
