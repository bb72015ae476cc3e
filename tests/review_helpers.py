"""Build review / reward test data through the real services.

The readings are the worked example of docs/reward-math.md (annotators A, B, C; two
labels; four images; mean times 5 s and 10 s; rewards 50 / 25 / 25), stored
as real versioned annotations with ``annotations.submit``. Case rows point
at real PNGs in the image store, so the review page can show them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlmodel import Session

from markit_core.annotation.submit import Answer, RegionInput, submit
from markit_core.annotation.timing import Timing
from markit_core.config import Settings
from markit_core.db import require_id
from markit_core.imaging.store import ImageStore
from markit_core.labels import add_labels, list_labels
from markit_core.models import Case, Role, User
from markit_core.projects import ProjectInfo

ANNOTATORS = ("ann_a", "ann_b", "ann_c")
# label -> per image, the answers of (A, B, C)
EXAMPLE: dict[str, tuple[str, ...]] = {
    "effusion": ("TTT", "TTF", "FFF", "FTF"),
    "pneumothorax": ("FFF", "TFT", "FFF", "FFT"),
}
SECONDS = {"effusion": 5.0, "pneumothorax": 10.0}
CONFIDENCE = {"ann_a": 100, "ann_b": 80, "ann_c": 60}
SIZE = (120, 100)  # cols, rows


@dataclass
class Example:
    project: ProjectInfo
    owner: User
    reviewer: User
    annotators: dict[str, User]
    labels: dict[str, int]
    cases: list[int]


def png_bytes(seed: int, size: tuple[int, int] = SIZE) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def add_cases(
    session: Session, settings: Settings, project_id: int, n: int, start: int = 0
) -> list[int]:
    """Insert ``n`` minimal Case rows backed by real PNGs in the store."""
    store = ImageStore.from_settings(settings)
    ids = []
    for k in range(start, start + n):
        put = store.put(png_bytes(k + 1000 * project_id), ".png")
        case = Case(
            project_id=project_id,
            content_hash=put.digest,
            stored_path=put.relpath,
            kind="raster",
            original_name=f"img_{k}.png",
            cols=SIZE[0],
            rows=SIZE[1],
        )
        session.add(case)
        session.commit()
        ids.append(require_id(case))
    return ids


def read(
    session: Session,
    user: User,
    project_id: int,
    case_id: int,
    answers: dict[int, bool],
    *,
    confidence: int = 100,
    seconds: dict[int, float] | None = None,
    regions: tuple[RegionInput, ...] = (),
    token: str | None = None,
) -> None:
    submit(
        session,
        user,
        project_id,
        case_id,
        answers={k: Answer(v, confidence) for k, v in answers.items()},
        regions=regions,
        timing=Timing(10.0, 10.0, 0.0, dict(seconds or {})),
        token=token
        or f"t-{project_id}-{case_id}-{user.id}-{len(answers)}-{sorted(answers.items())}"[:64],
    )


def build_example(
    session: Session,
    settings: Settings,
    make_user,
    make_project,
    *,
    name: str = "Chest",
    pilot: bool = False,
    roi_label: bool = True,
    prefix: str = "",
) -> Example:
    """The worked example as a project: owner ``pi``, reviewer ``rev``, annotators A, B, C."""
    from markit_core.projects import update_settings

    owner, reviewer = make_user(prefix + "pi"), make_user(prefix + "rev")
    anns = {a: make_user(prefix + a) for a in ANNOTATORS}
    project = make_project(
        name,
        owner,
        {prefix + "rev": [Role.REVIEWER], **{prefix + a: [Role.ANNOTATOR] for a in ANNOTATORS}},
    )
    add_labels(session, owner, project.id, [("effusion", "Pleura"), ("pneumothorax", "Pleura")])
    if roi_label:
        add_labels(session, owner, project.id, [("lesion outline", "ROI")], kind="roi")
    if pilot:
        update_settings(session, owner, project.id, show_others_after_submit=True)
    labels = {lb.name: lb.id for lb in list_labels(session, owner, project.id)}
    cases = add_cases(session, settings, project.id, 4)
    for i, a in enumerate(ANNOTATORS):
        for j, case_id in enumerate(cases):
            answers = {labels[lab]: EXAMPLE[lab][j][i] == "T" for lab in EXAMPLE}
            regions = ()
            if a == "ann_a" and j == 1:  # A outlines the effusion on image 2
                regions = (RegionInput(labels["effusion"], "rect", [(10, 20), (60, 80)]),)
            read(
                session,
                anns[a],
                project.id,
                case_id,
                answers,
                confidence=CONFIDENCE[a],
                seconds={labels[lab]: SECONDS[lab] for lab in EXAMPLE},
                regions=regions,
            )
    return Example(project, owner, reviewer, anns, labels, cases)
