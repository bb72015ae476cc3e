"""Regions of interest <-> the drawing canvas (Fabric.js JSON), in image pixel coordinates.

The annotate page draws regions with streamlit-drawable-canvas, whose result is
Fabric.js 7 JSON in *canvas* pixels of the current view. Regions are stored in
*image* pixels, so they survive zoom, pan, window and viewer-size changes:

* :func:`drawing_to_regions` turns the canvas objects (``Rect``/``LabeledRect``,
  freehand ``Path``, ``Polygon``) into :class:`~markit_core.annotation.submit.RegionInput`
  through :func:`~markit_core.imaging.display.canvas_to_image`, honouring each
  object's origin, scale, flip and rotation (an object moved or resized with the
  canvas's edit tool converts correctly);
* :func:`regions_to_drawing` is the inverse, used as the canvas's
  ``initial_drawing`` so stored and drafted regions show up in any view.

The label of a region travels as the object's stroke colour (one distinct colour
per label, :func:`label_colors`), which survives every canvas edit (move, resize,
delete, reorder) without relying on object order. :func:`draw_regions` paints
regions (e.g. other annotators') onto a rendered view with Pillow.

No Streamlit import here: this is plain, unit-tested logic.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw

from markit_core.annotation.fabric import Point, object_canvas_points
from markit_core.annotation.submit import RegionInput
from markit_core.imaging.display import ViewMapping, canvas_to_image, image_to_canvas

__all__ = [
    "LABEL_PALETTE",
    "CanvasRegions",
    "draw_regions",
    "drawing_to_regions",
    "label_colors",
    "object_canvas_points",
    "region_canvas_points",
    "regions_to_drawing",
    "same_regions",
]


#: Bright, mutually distinct colours that stay visible on a greyscale radiograph.
LABEL_PALETTE: tuple[str, ...] = (
    "#ffd60a",
    "#39ff14",
    "#ff8c00",
    "#ff4fd8",
    "#00e5ff",
    "#b388ff",
    "#c6ff00",
    "#ff6e6e",
    "#64ffda",
    "#ffab40",
    "#ea80fc",
    "#84ffff",
)

_TRANSPARENT = "rgba(0,0,0,0)"


def label_colors(label_ids: Iterable[int]) -> dict[int, str]:
    """One distinct ``#rrggbb`` colour per label id, stable for a given order.

    The first twelve come from :data:`LABEL_PALETTE`; more labels get evenly
    spread hues, skipping any colour already used, so a colour always names
    exactly one label.
    """
    colors: dict[int, str] = {}
    used: set[str] = set()
    ids = list(dict.fromkeys(label_ids))
    for n, label_id in enumerate(ids):
        if n < len(LABEL_PALETTE):
            color = LABEL_PALETTE[n]
        else:
            k, attempt = n - len(LABEL_PALETTE), 0
            while True:
                hue = (k * 0.618033988749895 + attempt * 0.013) % 1.0
                r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0 - 0.15 * ((k // 7) % 3))
                color = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
                if color not in used:
                    break
                attempt += 1
        used.add(color)
        colors[label_id] = color
    return colors


def _norm_color(value: object) -> str:
    return str(value or "").strip().lower().replace(" ", "")


def _clamp(points: Iterable[Point], size: tuple[int, int]) -> list[Point]:
    cols, rows = size
    return [(min(max(x, 0.0), float(cols)), min(max(y, 0.0), float(rows))) for x, y in points]


def _distinct(points: Sequence[Point]) -> int:
    return len({(round(x, 3), round(y, 3)) for x, y in points})


@dataclass(frozen=True)
class CanvasRegions:
    """What :func:`drawing_to_regions` made of a canvas drawing."""

    regions: tuple[RegionInput, ...] = ()
    skipped: tuple[str, ...] = field(default_factory=tuple)


def drawing_to_regions(
    drawing: Mapping[str, Any] | None,
    mapping: ViewMapping,
    *,
    colors: Mapping[int, str],
    default_label: int | None,
    frame: int = 0,
) -> CanvasRegions:
    """Convert a canvas drawing (``json_data``) to regions in image pixels.

    Parameters
    ----------
    drawing : Mapping | None
        Fabric.js JSON with an ``objects`` list (``CanvasResult.json_data``).
    mapping : ViewMapping
        The mapping of the view the canvas showed.
    colors : Mapping[int, str]
        Label id -> stroke colour (:func:`label_colors`); an object's stroke names
        its label.
    default_label : int | None
        Label for objects whose colour names no label (None: such objects are skipped).
    frame : int
        Frame the canvas showed.

    Returns
    -------
    CanvasRegions
        The regions, in canvas order, with points clamped to the image, and one
        note per object that could not be used (unsupported type, unknown label,
        outside the image or degenerate).
    """
    by_color = {_norm_color(c): label_id for label_id, c in colors.items()}
    regions: list[RegionInput] = []
    skipped: list[str] = []
    objects = (drawing or {}).get("objects") or []
    for n, obj in enumerate(objects, start=1):
        if not isinstance(obj, Mapping):
            skipped.append(f"object {n}: not a drawing object")
            continue
        found = object_canvas_points(obj)
        if found is None:
            skipped.append(
                f"object {n}: a {obj.get('type', '?')} is not a region "
                "(draw rectangles, free-hand lines or polygons)"
            )
            continue
        shape, canvas_pts = found
        label_id = by_color.get(_norm_color(obj.get("stroke")), default_label)
        if label_id is None:
            skipped.append(f"object {n}: its colour names no label")
            continue
        image_pts = _clamp(
            (canvas_to_image(x, y, mapping) for x, y in canvas_pts), mapping.image_size
        )
        need = 3 if shape == "polygon" else 2
        if _distinct(image_pts) < need or (
            shape == "rect"
            and (image_pts[0][0] == image_pts[1][0] or image_pts[0][1] == image_pts[1][1])
        ):
            skipped.append(f"object {n}: a {shape} outside the image or too small")
            continue
        regions.append(RegionInput(label_id, shape, tuple(image_pts), frame))
    return CanvasRegions(tuple(regions), tuple(skipped))


def region_canvas_points(region: RegionInput, mapping: ViewMapping) -> list[Point]:
    """A region's points in canvas pixels of ``mapping``'s view."""
    return [image_to_canvas(float(x), float(y), mapping) for x, y in region.points]


def regions_to_drawing(
    regions: Iterable[RegionInput],
    mapping: ViewMapping,
    *,
    colors: Mapping[int, str],
    frame: int = 0,
    stroke_width: int = 2,
) -> dict[str, Any]:
    """Fabric.js JSON showing ``regions`` (those on ``frame``) in ``mapping``'s view.

    The exact inverse of :func:`drawing_to_regions` for unedited objects, so a
    drawing round-trips through the canvas without drifting.
    """
    objects: list[dict[str, Any]] = []
    for region in regions:
        if region.frame != frame:
            continue
        color = colors.get(region.label_id, "#ffffff")
        pts = region_canvas_points(region, mapping)
        common = {
            "stroke": color,
            "strokeWidth": stroke_width,
            "fill": _TRANSPARENT,
            "scaleX": 1,
            "scaleY": 1,
            "angle": 0,
        }
        if region.shape == "rect":
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            half = stroke_width / 2.0
            objects.append(
                {
                    "type": "Rect",
                    "originX": "left",
                    "originY": "top",
                    "left": min(xs) - half,
                    "top": min(ys) - half,
                    "width": max(xs) - min(xs),
                    "height": max(ys) - min(ys),
                    "strokeUniform": True,
                    **common,
                }
            )
        else:
            # Placed by their bounding-box centre, as Fabric places them itself, so the
            # JSON reads the same before the canvas has re-serialised it.
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            box = {
                "originX": "center",
                "originY": "center",
                "left": (min(xs) + max(xs)) / 2.0,
                "top": (min(ys) + max(ys)) / 2.0,
                "width": max(xs) - min(xs),
                "height": max(ys) - min(ys),
            }
            if region.shape == "polygon":
                objects.append(
                    {
                        "type": "Polygon",
                        **box,
                        "points": [{"x": x, "y": y} for x, y in pts],
                        **common,
                    }
                )
            else:
                path = [["M", *pts[0]]] + [["L", x, y] for x, y in pts[1:]]
                objects.append(
                    {
                        "type": "Path",
                        **box,
                        "path": path,
                        **(common | {"fill": None}),
                        "strokeLineCap": "round",
                        "strokeLineJoin": "round",
                    }
                )
    return {"version": "7.4.0", "objects": objects}


def _same(a: RegionInput, b: RegionInput, tolerance: float) -> bool:
    if (a.label_id, a.shape, a.frame, len(a.points)) != (
        b.label_id,
        b.shape,
        b.frame,
        len(b.points),
    ):
        return False
    return all(
        abs(float(pa[0]) - float(pb[0])) <= tolerance
        and abs(float(pa[1]) - float(pb[1])) <= tolerance
        for pa, pb in zip(a.points, b.points, strict=True)
    )


def same_regions(
    a: Iterable[RegionInput], b: Iterable[RegionInput], *, tolerance: float = 0.01
) -> bool:
    """Whether two region lists are the same, point by point within ``tolerance`` image pixels."""
    left, right = list(a), list(b)
    return len(left) == len(right) and all(
        _same(x, y, tolerance) for x, y in zip(left, right, strict=True)
    )


def draw_regions(
    image: Image.Image,
    regions: Iterable[tuple[str, RegionInput]],
    mapping: ViewMapping,
    *,
    frame: int = 0,
    width: int = 2,
) -> Image.Image:
    """Paint ``(colour, region)`` pairs onto a rendered view (a new RGB image).

    Used for other annotators' regions, which are shown but not editable.
    """
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    for color, region in regions:
        if region.frame != frame:
            continue
        pts = region_canvas_points(region, mapping)
        if region.shape == "rect":
            (x0, y0), (x1, y1) = pts[0], pts[-1]
            draw.rectangle(
                [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=color, width=width
            )
        elif region.shape == "polygon":
            draw.line(pts + [pts[0]], fill=color, width=width, joint="curve")
        else:
            draw.line(pts, fill=color, width=width, joint="curve")
    return out
