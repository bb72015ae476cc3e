"""Bulk-load a large synthetic project for ``benchmarks/scale.py`` with PostgreSQL COPY.

The users, the project, its labels and roles are made through the core
services (so they carry their ledger entries and the ledger head is real);
the cases, readings, answers, regions and reader counters are written by
COPY straight into the migrated schema, in chunks of cases so memory stays
flat. The rows look like real ones: cases with sizes, UIDs and neutral names;
readings with timings, a few edited twice (an older version kept); answers
with confidence grades and per-label seconds, drawn from per-label prevalence
and per-reader error rates so readers disagree as real ones do; rectangles on
some positive answers. Bulk rows get no ledger entries of their own (nothing
measured verifies the ledger).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

PASSWORD = "benchmark password"
GRADES = np.array([0, 20, 40, 60, 80, 100])
EDITED = 0.01  # share of readings submitted twice (version 1 kept, version 2 current)
WITH_REGION = 0.02  # share of readings with one rectangle on a positive answer
CHUNK_CASES = 5_000


@dataclass(frozen=True)
class Built:
    """Ids of what was loaded: the project, its readers and the reader measured mid-queue."""

    project_id: int
    cases: int
    readers: tuple[str, ...]
    next_reader: str
    answers: int


def _people(engine: Any, name: str, n_labels: int, readers: int) -> tuple[int, list[int], int]:
    """Users, project, labels and roles through the core (one ledger entry each)."""
    from sqlmodel import select

    from markit_core import accounts
    from markit_core.accounts import create_user, get_user
    from markit_core.db import session
    from markit_core.labels import add_labels
    from markit_core.models import Role, User
    from markit_core.projects import create_project, grant_role

    accounts.configure_hashing(time_cost=1, memory_cost_kib=1024)
    with session(engine) as s:
        if s.exec(select(User).where(User.username == "root")).first() is None:
            create_user(s, None, "root", PASSWORD, is_admin=True)
        root = get_user(s, "root")
        project = create_project(s, root, name)
        groups = ("Lung", "Pleura", "Heart", "Bone", "Devices")
        add_labels(
            s,
            root,
            project.id,
            [(f"finding {k + 1:02d}", groups[k % len(groups)]) for k in range(n_labels)],
        )
        ids = []
        for n in range(readers + 1):  # the last one is part-way through their queue
            username = f"{name.lower()}-reader{n + 1}"
            create_user(s, root, username, PASSWORD)
            grant_role(s, root, project.id, username, Role.ANNOTATOR)
            ids.append(int(get_user(s, username).id))
        return int(project.id), ids, int(root.id)


def _copy(cur: Any, table: str, frame: pd.DataFrame) -> None:
    """COPY a frame's rows (text format, tab-separated, \\N for NULL) into ``table``."""
    buf = io.StringIO()
    frame.to_csv(buf, sep="\t", header=False, index=False, na_rep="\\N")
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    with cur.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
        copy.write(buf.getvalue())


def _next_ids(cur: Any, table: str) -> int:
    cur.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"')
    return int(cur.fetchone()[0]) + 1


def _cases(first_id: int, n: int, project_id: int, root: int, rng: Any, now: str) -> pd.DataFrame:
    ids = np.arange(first_id, first_id + n)
    hexes = [f"{i:064x}" for i in ids]
    return pd.DataFrame(
        {
            "id": ids,
            "project_id": project_id,
            "content_hash": hexes,
            "stored_path": [f"{h[:2]}/{h}.dcm" for h in hexes],
            "kind": "dicom",
            "original_name": [f"case-{i:07d}.dcm" for i in ids],
            "study_uid": [f"2.25.{i}1" for i in ids],
            "series_uid": [f"2.25.{i}2" for i in ids],
            "sop_uid": [f"2.25.{i}3" for i in ids],
            "accession": "",
            "modality": rng.choice(["CR", "DX"], n),
            "view_position": rng.choice(["PA", "AP", "LL"], n),
            "rows": rng.integers(1800, 3000, n),
            "cols": rng.integers(1800, 3000, n),
            "n_frames": 1,
            "burned_in_warning": "f",
            "meta": "{}",
            "created_at": now,
            "created_by": root,
        }
    )


def _readings(
    case_ids: np.ndarray, readers: list[int], first_case: int, next_cases: int
) -> tuple[np.ndarray, np.ndarray]:
    """(case, reader) pairs: every reader reads every case; the last reads the project's
    first ``next_cases`` cases."""
    full = readers[:-1]
    cases = np.repeat(case_ids, len(full))
    who = np.tile(np.asarray(full), len(case_ids))
    part = case_ids[case_ids < first_case + next_cases]
    return np.concatenate([cases, part]), np.concatenate([who, np.full(len(part), readers[-1])])


def _chunk(
    cur: Any, state: dict, case_ids: np.ndarray, project_id: int, readers: list[int], rng: Any
) -> int:
    """COPY one chunk's readings, answers, regions and reader counters; return answers loaded."""
    cases, who = _readings(case_ids, readers, state["first_case"], state["next_cases"])
    edited = rng.random(len(cases)) < EDITED
    # an edited reading is stored twice: version 1 (old) and version 2 (current)
    a_case = np.concatenate([cases, cases[edited]])
    a_who = np.concatenate([who, who[edited]])
    version = np.concatenate([np.where(edited, 2, 1), np.ones(edited.sum(), int)])
    n = len(a_case)
    ann_ids = np.arange(state["annotation"], state["annotation"] + n)
    state["annotation"] += n
    total = rng.gamma(4.0, 8.0, n).round(3)
    idle = (total * rng.random(n) * 0.2).round(3)
    at = state["t0"] + pd.to_timedelta(rng.integers(0, 90 * 86400, n), unit="s")
    _copy(
        cur,
        "annotation",
        pd.DataFrame(
            {
                "id": ann_ids,
                "project_id": project_id,
                "case_id": a_case,
                "annotator_id": a_who,
                "version": version,
                "deleted": "f",
                "submit_token": [f"{i:032x}" for i in ann_ids],
                "submitted_at": at.strftime("%Y-%m-%d %H:%M:%S+00"),
                "total_seconds": total,
                "active_seconds": (total - idle).round(3),
                "idle_seconds": idle,
            }
        ),
    )
    n_labels = len(state["labels"])
    truth = rng.random((len(case_ids), n_labels)) < state["prevalence"]
    row_of = np.searchsorted(case_ids, a_case)
    flip = rng.random((n, n_labels)) < state["error"][a_who][:, None]
    values = truth[row_of] ^ flip
    grade = GRADES[np.clip(rng.normal(4.0, 1.0, (n, n_labels)).round().astype(int), 0, 5)]
    label_ids = np.tile(state["labels"], n)
    value_ids = np.arange(state["value"], state["value"] + n * n_labels)
    state["value"] += n * n_labels
    _copy(
        cur,
        "annotation_value",
        pd.DataFrame(
            {
                "id": value_ids,
                "annotation_id": np.repeat(ann_ids, n_labels),
                "label_id": label_ids,
                "value": np.where(values.ravel(), "t", "f"),
                "confidence": grade.ravel(),
                "seconds": rng.gamma(2.0, 0.8, n * n_labels).round(3),
            }
        ),
    )
    _regions(cur, state, ann_ids, values, rng)
    counts = np.bincount(np.searchsorted(case_ids, cases), minlength=len(case_ids))
    _copy(cur, "case_readers", pd.DataFrame({"case_id": case_ids, "readers": counts}))
    current = version[: len(cases)]  # the first len(cases) rows are the current versions
    return int(len(current) * n_labels)


def _regions(cur: Any, state: dict, ann_ids: np.ndarray, values: np.ndarray, rng: Any) -> None:
    """One rectangle on the first positive label of a few readings."""
    pick = (rng.random(len(ann_ids)) < WITH_REGION) & values.any(axis=1)
    rows = np.flatnonzero(pick)
    if not len(rows):
        return
    first = values[rows].argmax(axis=1)
    x0, y0 = rng.integers(100, 1200, len(rows)), rng.integers(100, 1200, len(rows))
    w, h = rng.integers(40, 500, len(rows)), rng.integers(40, 500, len(rows))
    ids = np.arange(state["roi"], state["roi"] + len(rows))
    state["roi"] += len(rows)
    _copy(
        cur,
        "roi",
        pd.DataFrame(
            {
                "id": ids,
                "annotation_id": ann_ids[rows],
                "label_id": state["labels"][first],
                "shape": "rect",
                "frame": 0,
                "points": [
                    f"[[{a}, {b}], [{a + c}, {b + d}]]"
                    for a, b, c, d in zip(x0, y0, w, h, strict=True)
                ],
            }
        ),
    )


def build_project(
    engine: Any, name: str, cases: int, n_labels: int = 25, readers: int = 4, seed: int = 13
) -> Built:
    """Create project ``name`` with ``cases`` cases fully read by ``readers`` readers."""
    project_id, reader_ids, root = _people(engine, name, n_labels, readers)
    rng = np.random.default_rng(seed)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute(
                'SELECT id FROM label_def WHERE project_id = %s ORDER BY "order", id', (project_id,)
            )
            labels = np.array([r[0] for r in cur.fetchall()])
            error = np.zeros(max(reader_ids) + 1)
            error[reader_ids] = rng.uniform(0.03, 0.15, len(reader_ids))
            state = {
                "labels": labels,
                "prevalence": rng.uniform(0.03, 0.3, len(labels)),
                "error": error,
                "next_cases": max(1, cases // 100),
                "annotation": _next_ids(cur, "annotation"),
                "value": _next_ids(cur, "annotation_value"),
                "roi": _next_ids(cur, "roi"),
                "t0": pd.Timestamp(datetime(2026, 1, 5, 8, tzinfo=UTC)),
            }
            first_case = state["first_case"] = _next_ids(cur, "case")
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
            answers = 0
            for start in range(0, cases, CHUNK_CASES):
                n = min(CHUNK_CASES, cases - start)
                frame = _cases(first_case + start, n, project_id, root, rng, now)
                _copy(cur, "case", frame)
                ids = frame["id"].to_numpy()
                answers += _chunk(cur, state, ids, project_id, reader_ids, rng)
            for table in ("case", "annotation", "annotation_value", "roi"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'(SELECT coalesce(max(id), 1) FROM "{table}"))'
                )
        conn.commit()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("VACUUM ANALYZE")
        finally:
            conn.autocommit = False
    finally:
        raw.close()
    names = tuple(f"{name.lower()}-reader{n + 1}" for n in range(readers + 1))
    return Built(project_id, cases, names[:-1], names[-1], answers)
