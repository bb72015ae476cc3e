"""Consensus labels for training: one row per (case, binary label) that has an answer.

The answer is the reviewer's adjudication where one exists, else the truth
rule's (``majority`` or ``dawid_skene``, :mod:`markit_core.agreement.truth`),
with ``posterior_present`` — the probability that the finding is present:
1 or 0 for an adjudication, the share of present votes for the majority, the
Dawid–Skene posterior for that rule — the number of readers and
``agreement``, the share of readers whose answer equals the consensus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlmodel import Session, select

from markit_core.agreement.dawid_skene import dawid_skene
from markit_core.agreement.measures import MISSING
from markit_core.agreement.truth import normalise_truth
from markit_core.export.spreadsheet import csv_writer
from markit_core.export.tables import Progress, Written, _noop, num_cell
from markit_core.models import Adjudication
from markit_core.review.answers import load_answers

__all__ = ["CONSENSUS_COLUMNS", "write_consensus_csv"]

CONSENSUS_COLUMNS = (
    "case_id",
    "case_name",
    "label_id",
    "label",
    "answer",
    "method",
    "posterior_present",
    "readers",
    "readers_present",
    "agreement",
)


def _posterior(values: np.ndarray, rule: str) -> np.ndarray:
    """(J,) probability of present per case from one label's ``values[reader, case]``."""
    answered = values != MISSING
    n = answered.sum(axis=0)
    if rule == "dawid_skene" and answered.any():
        post = dawid_skene(values).posterior.astype(float)
    else:
        post = np.divide((values == 1).sum(axis=0), n, out=np.zeros(n.shape), where=n > 0)
    return np.where(n > 0, post, np.nan)


def write_consensus_csv(
    session: Session,
    project_id: int,
    path: Path,
    truth: str = "majority",
    progress: Progress = _noop,
) -> tuple[Written, set[int]]:
    """Write the consensus CSV; return it and the ids of the adjudications it used."""
    rule = normalise_truth(truth)
    answers = load_answers(session, project_id)
    consensus = answers.consensus(rule)
    out = Written(path)
    used_adjudications: set[int] = set()
    adj_ids: dict[tuple[int, int], int] = {
        (c, lb): int(i or 0)
        for i, c, lb in session.exec(
            select(Adjudication.id, Adjudication.case_id, Adjudication.label_id).where(
                Adjudication.project_id == project_id
            )
        )
    }
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv_writer(f)
        writer.writerow(CONSENSUS_COLUMNS)
        for k, (label, label_id) in enumerate(zip(answers.labels, answers.label_ids, strict=True)):
            values = answers.values[k]
            posterior = _posterior(values, rule)
            readers = (values != MISSING).sum(axis=0)
            present = (values == 1).sum(axis=0)
            for j, case_id in enumerate(answers.case_ids.tolist()):
                answer = int(consensus[k, j])
                if answer == MISSING:
                    continue
                adjudicated = answers.adjudicated[k, j] != MISSING
                agree = present[j] if answer == 1 else readers[j] - present[j]
                if adjudicated:
                    used_adjudications.add(adj_ids[(case_id, label_id)])
                writer.writerow(
                    [
                        case_id,
                        answers.case_names[j],
                        label_id,
                        label,
                        "true" if answer == 1 else "false",
                        "adjudicated" if adjudicated else rule,
                        num_cell(float(answer) if adjudicated else float(posterior[j])),
                        int(readers[j]),
                        int(present[j]),
                        num_cell(float(agree / readers[j]) if readers[j] else None),
                    ]
                )
                out.rows += 1
            progress(k + 1, len(answers.labels), "consensus")
    return out, used_adjudications
