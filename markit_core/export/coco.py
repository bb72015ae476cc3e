"""COCO object-detection JSON of a project's regions (and a COCO results file for AI regions).

* ``categories``: the label set, ids from 1 in label order (``markit_label_id`` keeps the link);
* ``images``: one per case, ``id`` = case id, ``file_name``, ``width``, ``height``;
* ``annotations``: one per human region, ``id`` = region id; a rectangle gets ``bbox``
  ``[x, y, w, h]`` and its four corners as the polygon ``segmentation``; polygons and
  free-hand regions a polygon ``segmentation`` and their bounding box; ``area`` is the
  polygon's area (shoelace), ``iscrowd`` 0. Coordinates are image pixels.
* AI regions (``source`` ``ai``), when there are any, go to a separate results file: a
  list of ``{image_id, category_id, bbox, segmentation, score}`` as ``COCO.loadRes`` reads.

The file is written piece by piece (cases and regions stream from the database).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from markit_core.export.rows import RegionRow, count_regions, iter_regions, label_categories
from markit_core.export.sqlite_cells import prepared_region_chunks, prepared_regions_fit
from markit_core.export.tables import Progress, RegionsCsv, Written, _noop
from markit_core.models import Case

__all__ = ["polygon_of", "region_geometry", "write_coco"]

_DUMP = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def polygon_of(shape: str, points: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """A region's outline: a rectangle's two corners become its four."""
    pts = [(float(x), float(y)) for x, y in points]
    if shape == "rect":
        (x0, y0), (x1, y1) = pts[0], pts[1]
        xa, xb, ya, yb = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
        return [(xa, ya), (xb, ya), (xb, yb), (xa, yb)]
    return pts


def _area(poly: Sequence[tuple[float, float]]) -> float:
    s = 0.0
    for (x0, y0), (x1, y1) in zip(poly, [*poly[1:], poly[0]], strict=True):
        s += x0 * y1 - x1 * y0
    return abs(s) / 2.0


def region_geometry(shape: str, points: Sequence[Sequence[float]]) -> dict[str, Any]:
    """``segmentation``, ``bbox`` and ``area`` of one region, in COCO's conventions."""
    poly = polygon_of(shape, points)
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    return {
        "segmentation": [[c for p in poly for c in p]],
        "bbox": bbox,
        "area": bbox[2] * bbox[3] if shape == "rect" else _area(poly),
    }


def _annotation(r: RegionRow, category: int) -> dict[str, Any]:
    return {
        "id": r.region_id,
        "image_id": r.case_id,
        "category_id": category,
        **region_geometry(r.shape, r.points),
        "iscrowd": 0,
        "markit_shape": r.shape,
        "markit_frame": r.frame,
        "markit_reader": r.reader,
        "markit_annotation_id": r.annotation_id,
        "markit_version": r.version,
    }


def _rect_geometry(points: Sequence[Sequence[float]]) -> tuple[str, float, float, float, float]:
    """A rectangle's polygon text, and its bbox, without building the polygon (the common case)."""
    (ax, ay), (bx, by) = points
    x0, x1 = (float(ax), float(bx)) if ax <= bx else (float(bx), float(ax))
    y0, y1 = (float(ay), float(by)) if ay <= by else (float(by), float(ay))
    return f"{x0!r},{y0!r},{x1!r},{y0!r},{x1!r},{y1!r},{x0!r},{y1!r}", x0, y0, x1 - x0, y1 - y0


def _polygon_geometry(
    shape: str, points: Sequence[Sequence[float]]
) -> tuple[str, float, float, float, float, float]:
    poly = polygon_of(shape, points)
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    x0, y0 = min(xs), min(ys)
    text = ",".join(f"{x!r},{y!r}" for x, y in poly)
    return text, x0, y0, max(xs) - x0, max(ys) - y0, _area(poly)


class _JsonText(dict[str, str]):
    """JSON text of the few distinct strings (shapes, reader names) an export repeats."""

    def __missing__(self, key: str) -> str:
        self[key] = text = _DUMP(key)
        return text


def _annotation_json(
    r: RegionRow,
    category: int,
    strings: _JsonText | None = None,
    points: Sequence[Sequence[float]] | None = None,
) -> str:
    """``_DUMP(_annotation(r, category))``, formatted directly (a large export writes
    millions of these; ``repr`` of a float is what ``json`` writes for it)."""
    strings = _JsonText() if strings is None else strings
    points = r.points if points is None else points  # ``points``: parsed already
    if r.shape == "rect":
        segmentation, x0, y0, w, h = _rect_geometry(points)
        area = w * h
    else:
        segmentation, x0, y0, w, h, area = _polygon_geometry(r.shape, points)
    return (
        f'{{"id":{r.region_id},"image_id":{r.case_id},"category_id":{category},'
        f'"segmentation":[[{segmentation}]],"bbox":[{x0!r},{y0!r},{w!r},{h!r}],'
        f'"area":{area!r},"iscrowd":0,"markit_shape":{strings[r.shape]},'
        f'"markit_frame":{r.frame},"markit_reader":{strings[r.reader]},'
        f'"markit_annotation_id":{r.annotation_id},"markit_version":{r.version}}}'
    )


def _regions(
    session: Session, project_id: int, regions_csv: RegionsCsv | None
) -> Iterator[tuple[RegionRow, Any]]:
    """The regions with their parsed points, each also written to ``regions_csv``: on
    SQLite, where the text cells need nothing done, whole chunks at once
    (:mod:`~markit_core.export.sqlite_cells`), their points parsed by one ``json.loads``
    of the chunk (the same parser, without its per-call cost)."""
    if regions_csv is not None and prepared_regions_fit(session, project_id):
        make = RegionRow._make
        for rows in prepared_region_chunks(session, project_id):
            regions_csv.add_prepared(rows)
            points = json.loads("[" + ",".join([r[6] for r in rows]) + "]")
            yield from zip(map(make, rows), points, strict=True)
        return
    for r in iter_regions(session, project_id):
        if regions_csv is not None:
            regions_csv.add(r)
        yield r, r.points


def write_coco(
    session: Session,
    project_id: int,
    path: Path,
    results_path: Path,
    progress: Progress = _noop,
    regions_csv: RegionsCsv | None = None,
) -> tuple[Written, Written | None]:
    """Write ``path`` (human regions) and, if any AI regions exist, ``results_path``.

    With ``regions_csv`` every region also goes to that regions CSV, in the same pass.
    """
    cats = label_categories(session, project_id)
    by_label = {label_id: cid for cid, label_id, _, _ in cats}
    out, ai = Written(path), Written(results_path)
    total = count_regions(session, project_id)
    done = 0
    with open(path, "w", encoding="utf-8") as f, open(results_path, "w", encoding="utf-8") as g:
        f.write('{"info":{"description":"MarkIt export","version":"1"},"licenses":[],')
        f.write('"categories":[')
        f.write(
            ",".join(
                _DUMP({"id": cid, "name": name, "supercategory": group, "markit_label_id": lid})
                for cid, lid, name, group in cats
            )
        )
        f.write('],"images":[')
        stmt = (
            select(Case.id, Case.original_name, Case.cols, Case.rows)
            .where(col(Case.project_id) == project_id)
            .order_by(col(Case.id))
            .execution_options(yield_per=5000)
        )
        for n, (cid, name, cols, rows) in enumerate(session.execute(stmt)):
            image = {"id": cid, "file_name": name or f"case_{cid}", "width": cols, "height": rows}
            f.write(("," if n else "") + _DUMP(image))
        f.write('],"annotations":[')
        g.write("[")
        strings = _JsonText()
        for r, points in _regions(session, project_id, regions_csv):
            done += 1
            if r.source == "ai":
                item = _annotation(r, by_label[r.label_id])
                result = {k: item[k] for k in ("image_id", "category_id", "segmentation", "bbox")}
                result["score"] = 1.0 if r.score is None else r.score
                g.write(("," if ai.rows else "") + _DUMP(result))
                ai.rows += 1
                ai.annotation_ids.add(r.annotation_id)
            else:
                text = _annotation_json(r, by_label[r.label_id], strings, points)
                f.write(("," if out.rows else "") + text)
                out.rows += 1
                out.annotation_ids.add(r.annotation_id)
            if done % 2000 == 0:
                progress(done, total, "COCO regions")
        f.write("]}\n")
        g.write("]\n")
    progress(done, total, "COCO regions")
    if not ai.rows:
        results_path.unlink()
        return out, None
    return out, ai
