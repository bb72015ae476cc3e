"""Simulated readings for the demo project, so review and rewards show real figures.

Three careful annotators (``ann1``..``ann3``, about 93-95 % agreement with
the generator's ground truth, confident when right) and one careless one
(``ann4``: fast, mostly guessing, random confidence) read the demo cases.
Per-label times are lognormal with label-dependent medians (pneumothorax
slowest, cardiomegaly fastest, as in the paper's Fig. 4) scaled by each
reader's pace. Careful readers outline positive findings with a rectangle
near the generator's lesion box.

Every reading goes through :func:`markit_core.annotation.submit.submit`, so the
demo answers are ordinary versioned annotations with ledger entries.

Linking cases to the truth: ingest keeps the uploaded file name only in the
case's origin record (``CaseOrigin.source``, ``upload: demo_images/demo_<seed>_<index>.dcm|png``;
``Case.original_name`` is a neutral display name). The
truth comes from the generator's ``ground_truth.json`` in
``settings.cache_dir / "demo_images"`` when present (it also has the lesion
boxes), else from :func:`markit_core.demo.generator.sample_truth` with the same
seeded generator, which reproduces the labels (not the boxes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from markit_core.annotation.submit import Answer, RegionInput, submit
from markit_core.annotation.timing import Timing
from markit_core.config import Settings
from markit_core.db import require_id
from markit_core.demo.generator import sample_truth
from markit_core.labels import active_binary_labels
from markit_core.models import Annotation, Case, CaseOrigin, Project, User

__all__ = ["READERS", "Reader", "demo_truth", "seed_demo_answers"]

_NAME_RE = re.compile(r"demo_(\d+)_(\d+)\.(?:dcm|png)$")
HELD_OUT_FOR_ANN1 = 2

# median seconds per label; pneumothorax is searched for longest, cardiomegaly seen at a glance
LABEL_MEDIAN_SECONDS: dict[str, float] = {
    "interstitial lung disease": 6.5,
    "pneumonia": 5.5,
    "pulmonary edema": 5.0,
    "pleural effusion": 4.5,
    "cardiomegaly": 2.5,
    "pneumothorax": 9.0,
    "atelectasis": 5.5,
}


@dataclass(frozen=True)
class Reader:
    """A simulated annotator: ``accuracy`` = P(answer equals truth) when not guessing.

    ``guess`` is the share of answers made without looking (P(True) = 0.35);
    ``pace`` scales the label times.
    """

    username: str
    accuracy: float
    guess: float
    pace: float
    seed: int


READERS: tuple[Reader, ...] = (
    Reader("ann1", 0.95, 0.0, 1.0, 1),
    Reader("ann2", 0.93, 0.0, 1.25, 2),
    Reader("ann3", 0.94, 0.0, 0.85, 3),
    Reader("ann4", 0.60, 0.85, 0.45, 4),
)


@dataclass(frozen=True)
class Truth:
    labels: dict[str, bool]
    boxes: dict[str, tuple[int, int, int, int]]
    index: int


def _uploaded_names(cases: list[Case]) -> dict[int, str]:
    """Case id -> the uploaded file's base name, from the cases' origin records.

    Internal seeding code: reads ``CaseOrigin`` directly, through the session
    the cases were loaded in (cases not attached to a session are left out).
    """
    out: dict[int, str] = {}
    by_session: dict[Any, list[int]] = {}  # sqlmodel sessions (the project uses no other)
    for case in cases:
        session = object_session(case)
        if session is not None and case.id is not None:
            by_session.setdefault(session, []).append(case.id)
    for session, ids in by_session.items():
        for start in range(0, len(ids), 500):  # stay under SQL parameter limits
            rows = session.exec(
                select(CaseOrigin.case_id, CaseOrigin.source).where(
                    col(CaseOrigin.case_id).in_(ids[start : start + 500])
                )
            )
            for case_id, source in rows:
                # "upload: demo_images/demo_1_3.png" -> "demo_1_3.png"
                out[int(case_id)] = (source or "").rsplit("/", 1)[-1].rsplit(": ", 1)[-1]
    return out


def demo_truth(settings: Settings, cases: list[Case]) -> dict[int, Truth]:
    """Ground truth per demo case id; cases that are not demo images are left out.

    A case is a demo image when the file it was uploaded from (its
    ``CaseOrigin.source``) is the generator's ``demo_<seed>_<index>.dcm|png``.
    """
    manifest: dict[str, dict] = {}
    path = Path(settings.cache_dir) / "demo_images" / "ground_truth.json"
    if path.is_file():
        try:
            manifest = {e["path"]: e for e in json.loads(path.read_text())["images"]}
        except (ValueError, KeyError, TypeError):
            manifest = {}
    out: dict[int, Truth] = {}
    uploaded = _uploaded_names(cases)
    for case in cases:
        base = uploaded.get(require_id(case), "")
        m = _NAME_RE.fullmatch(base)
        if m is None:
            continue
        seed, index = int(m.group(1)), int(m.group(2))
        entry = manifest.get(base)
        if entry is not None:
            out[require_id(case)] = Truth(
                {k: bool(v) for k, v in entry["labels"].items()},
                {k: tuple(v) for k, v in entry.get("boxes", {}).items()},
                index,
            )
            continue
        out[require_id(case)] = Truth(
            sample_truth(np.random.default_rng([seed, index]), index), {}, index
        )
    return out


def _reading(
    reader: Reader, case: Case, truth: Truth, labels: dict[str, int]
) -> tuple[dict[int, Answer], list[RegionInput], Timing]:
    rng = np.random.default_rng([20240, truth.index, reader.seed])
    answers: dict[int, Answer] = {}
    regions: list[RegionInput] = []
    seconds: dict[int, float] = {}
    for name, label_id in labels.items():
        true = truth.labels.get(name, False)
        if rng.random() < reader.guess:
            value = bool(rng.random() < 0.35)
            grade = int(rng.choice([20, 40, 60, 80, 100]))
        else:
            value = true if rng.random() < reader.accuracy else not true
            grade = int(
                rng.choice([80, 100], p=[0.4, 0.6]) if value == true else rng.choice([40, 60, 80])
            )
        answers[label_id] = Answer(value, grade)
        median = LABEL_MEDIAN_SECONDS.get(name, 5.0) * reader.pace
        seconds[label_id] = round(float(rng.lognormal(np.log(median), 0.45)), 2)
        box = truth.boxes.get(name)
        if value and true and box is not None and reader.guess == 0.0:
            x0, y0, x1, y1 = (float(v) + float(rng.normal(0, 6)) for v in box)
            corners = [(x0, y0), (x1, y1)]
            regions.append(
                RegionInput(
                    label_id,
                    "rect",
                    [
                        (min(max(x, 0.0), float(case.cols)), min(max(y, 0.0), float(case.rows)))
                        for x, y in corners
                    ],
                )
            )
    total = round(sum(seconds.values()) * 1.1 + float(rng.uniform(1, 4)), 2)
    return answers, regions, Timing(total, total, 0.0, seconds)


def seed_demo_answers(session: Session, settings: Settings, project_id: int) -> int:
    """Submit the simulated readings of the demo cases; return how many were submitted.

    Idempotent: a reader who already has (or had) a reading of a case is
    skipped, so re-running submits nothing new. The last
    ``HELD_OUT_FOR_ANN1`` cases are left unread by ann1 so the annotate page
    still has work in the demo; the other readers read those only while the
    case stays below the project's required number of readers, so the
    queue keeps offering them to ann1. A reader whose account does not
    exist is skipped; one without the annotator role makes ``submit`` raise
    ``PermissionDenied``, so call this after ``seed_demo`` granted the roles.
    """
    project = session.get(Project, project_id)
    if project is None:
        return 0
    in_project = select(Case).where(Case.project_id == project_id)
    cases = list(session.exec(in_project.order_by(col(Case.id))))
    truths = demo_truth(settings, cases)
    labels = {lb.name: require_id(lb) for lb in active_binary_labels(session, project_id)}
    demo_cases = [c for c in cases if require_id(c) in truths]
    held_out = {c.id for c in demo_cases[-HELD_OUT_FOR_ANN1:]}
    readers_of: dict[int, set[int]] = {}
    for case_id, annotator_id in session.exec(
        select(Annotation.case_id, Annotation.annotator_id).where(
            Annotation.project_id == project_id
        )
    ):
        readers_of.setdefault(case_id, set()).add(annotator_id)
    submitted = 0
    for reader in READERS:
        user = session.exec(select(User).where(User.username == reader.username)).first()
        if user is None:
            continue
        for case in demo_cases:
            cid = require_id(case)
            done = readers_of.setdefault(cid, set())
            if user.id in done:
                continue
            if cid in held_out and (
                reader.username == "ann1" or len(done) + 1 >= project.required_annotators
            ):
                continue
            answers, regions, timing = _reading(reader, case, truths[cid], labels)
            submit(
                session,
                user,
                project_id,
                cid,
                answers=answers,
                regions=regions,
                timing=timing,
                token=f"demo-answer-{cid}-{user.id}",
            )
            done.add(require_id(user))
            submitted += 1
    return submitted
