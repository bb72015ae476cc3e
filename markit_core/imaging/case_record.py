"""What a stored image becomes in the database: its duplicate key, the neutral name
readers see, the facts the viewer uses, and the ``Case`` and ``CaseOrigin`` rows.

``markit_core.imaging.ingest`` runs the pipeline and commits; this module only
adds the rows (with the pseudonym pairs and the ledger entry) to its transaction.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
from sqlmodel import Session

from markit_core import ledger
from markit_core.db import require_id
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.deid import DeidResult
from markit_core.imaging.trace import record_pairs
from markit_core.models import Case, CaseOrigin, User

__all__ = ["add_case", "display_name", "pixel_digest"]


def pixel_digest(image: DecodedImage) -> str:
    """SHA-256 over the decoded pixels, their shape, type and photometric interpretation.

    This is ``Case.content_hash``, the duplicate key (see ``markit_core.imaging.ingest``).
    """
    frames = image.frames
    h = hashlib.sha256(f"{image.photometric}|{frames.shape}|{frames.dtype.str}|".encode())
    h.update(np.ascontiguousarray(frames).data.cast("B"))
    return h.hexdigest()


def add_case(
    session: Session,
    actor: User,
    project_id: int,
    source: str,
    image: DecodedImage,
    content_hash: str,
    relpath: str,
    suffix: str,
    kind: str,
    deid: DeidResult | None,
    *,
    action: str = "case.upload",
) -> Case:
    """Add the case, its origin and pseudonym pairs and its ledger entry (not committed).

    ``source`` says where the file came from and under which name (kept only in
    ``CaseOrigin.source``, for data owners); ``relpath`` is where the store put it
    (or, for a case left in the archive, its ``archive/...`` reference, with
    ``action="case.reference"``).
    """
    case = Case(
        project_id=project_id,
        content_hash=content_hash,
        stored_path=relpath,
        kind=kind,
        original_name=display_name(image, content_hash, suffix, deid),
        rows=image.rows,
        cols=image.cols,
        n_frames=image.n_frames,
        modality=(image.modality or "")[:16],
        view_position=(image.view_position or "")[:16],
        burned_in_warning=bool(deid and deid.burned_in),
        meta=_meta(image, relpath, deid),
        created_by=actor.id,
    )
    origin = CaseOrigin(case_id=0, project_id=project_id, source=source[:255])
    if deid is not None:
        p, o = deid.pseudonym, deid.original
        case.study_uid, case.series_uid = p.study_uid[:64], p.series_uid[:64]
        case.sop_uid, case.accession = p.sop_uid[:64], p.accession[:64]
        origin.patient_id, origin.patient_name = o.patient_id[:255], o.patient_name[:255]
        origin.accession, origin.study_uid = o.accession[:255], o.study_uid[:255]
        origin.sop_uid = o.sop_uid[:255]
    session.add(case)
    session.flush()
    origin.case_id = require_id(case)
    session.add(origin)
    if deid is not None:
        record_pairs(session, project_id, deid.pairs)
    ledger.append(
        session,
        actor=actor,
        project_id=project_id,
        action=action,
        record=case,
    )
    return case


def _meta(image: DecodedImage, relpath: str, deid: DeidResult | None) -> dict[str, Any]:
    """JSON-safe, non-identifying facts the viewer and exports use."""
    meta: dict[str, Any] = {
        "photometric": image.photometric,
        "source_photometric": image.source_photometric,
        "bits_stored": image.bits_stored,
        "body_part": image.body_part,
        "sop_class_uid": image.sop_class_uid,
        "pixel_spacing": list(image.pixel_spacing) if image.pixel_spacing else None,
        "window": list(image.header_window) if image.header_window else None,
        "value_range": [float(image.value_range[0]), float(image.value_range[1])],
        "is_color": image.is_color,
        "stored_as": relpath.rsplit(".", 1)[-1] if "." in relpath else "",
    }
    if deid is not None:
        meta["transfer_syntax"] = str(deid.dataset.file_meta.TransferSyntaxUID)
        meta["deidentified"] = True
    return meta


def display_name(
    image: DecodedImage, content_hash: str, suffix: str, deid: DeidResult | None
) -> str:
    """``Case.original_name``: a neutral name annotators and reviewers see.

    Never derived from the uploaded file name (which often carries a patient
    name, an ID or a date; it is kept only in ``CaseOrigin.source`` for data
    owners): ``<modality>-<last 10 digits of the pseudonymised SOP Instance
    UID>.dcm`` for DICOM, ``image-<first 10 hex of the pixel hash><suffix>``
    for ordinary images.
    """
    if deid is not None:
        modality = re.sub(r"[^A-Za-z0-9]", "", image.modality or "")[:16] or "DICOM"
        sop = deid.pseudonym.sop_uid.rsplit(".", 1)[-1]
        return f"{modality}-{sop[-10:] if sop.isdigit() else content_hash[:10]}.dcm"
    return f"image-{content_hash[:10]}{suffix}"
