"""The readings CSV streamed with COPY on PostgreSQL is byte for byte the Python writer's.

The data is hostile on purpose: names a spreadsheet would run, quotes, commas, tabs,
carriage returns, newlines and non-ASCII text in case, label, user and model names;
edited and deleted readings; missing confidence and timings; floats Python and
PostgreSQL write differently unless mapped (integral values, exponent 15, 1e-7, nan,
inf); AI-sourced answers merged by name order; a session in another time zone.
"""

from __future__ import annotations

import math
import random
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

from markit_core.export.copy_csv import _float, binary_copy_rows, copy_supported
from markit_core.export.tables import write_readings_csv
from markit_core.models import (
    AiLabel,
    Annotation,
    AnnotationExposure,
    AnnotationValue,
    Case,
    LabelDef,
    Project,
    User,
)

HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+1",
    "-x",
    "@x",
    "\tTab",
    "\rCR first",
    "mid\rcarriage",
    'quo"te',
    "com,ma",
    "new\nline",
    "naïve 漢字 🙂",
    "",
    " lead space",
    "plain",
]
FLOATS = [
    0.0, -0.0, 3.0, 12.5, 0.1 + 0.2, 1e-7, 0.0001, 9.999999999999999e-05, 1e14, 1e15,
    1234567890123456.8, -1e15 - 0.5, 9.999999999999998e15, 1e16, 1.5e16, 1e22, 5e-324,
    math.nan, math.inf, -math.inf, 123456789.123456789,
]  # fmt: skip
NUMBERS = [x for x in FLOATS if not math.isnan(x)]


def _users(session: Session) -> list[User]:
    names = ["Bob", "alice", "=evil", 'q"uote', "tab\tbed", "cr\rname", "ünïcode", "model@0"]
    users = [User(username=n, password_hash="x") for n in names]
    session.add_all(users)
    session.flush()
    return users


def _hostile_project(session: Session) -> int:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    project = Project(name="hostile")
    session.add(project)
    session.flush()
    pid = int(project.id or 0)
    labels = [  # equal orders: the name decides, by code point
        LabelDef(project_id=pid, name=name, order=order)
        for name, order in [("=SUM(A1)", 1), ('a"b', 1), ("c,d", 2), ("e\rf", 0), ("Zed", 2)]
    ]
    cases = [
        Case(project_id=pid, content_hash=f"{i:064x}", stored_path=f"x/{i}", original_name=n)
        for i, n in enumerate(HOSTILE)
    ]
    session.add_all([*labels, *cases])
    users = _users(session)
    session.flush()
    rng = random.Random(5)
    token = 0
    for ci, case in enumerate(cases):
        for ui, user in enumerate(users):
            if (ci + ui) % 5 == 4:
                continue  # not every reader reads every case
            versions = 1 + (ci * ui) % 3  # edits add versions
            for version in range(1, versions + 1):
                token += 1
                deleted = version == versions and (ci + ui) % 7 == 3
                a = Annotation(
                    project_id=pid,
                    case_id=case.id,
                    annotator_id=user.id,
                    version=version,
                    deleted=deleted,
                    submit_token=f"t{token}",
                    submitted_at=now + timedelta(seconds=token, microseconds=(token % 3) * 1717),
                    total_seconds=NUMBERS[token % len(NUMBERS)],  # NOT NULL: no nan (SQLite)
                    active_seconds=rng.uniform(0, 100),
                    idle_seconds=float(token % 4),
                )
                session.add(a)
                session.flush()
                for li, label in enumerate(labels):
                    if (token + li) % 6 == 0:
                        continue  # label not answered at all
                    value = None if (token + li) % 9 == 0 else (token + li) % 2 == 0
                    session.add(
                        AnnotationValue(
                            annotation_id=a.id,
                            label_id=label.id,
                            value=value,
                            confidence=None if li == 2 else (token * 20) % 120,
                            seconds=None if li == 3 else FLOATS[(token + li) % len(FLOATS)],
                        )
                    )
                    if li % 2 == 0 and token % 3:
                        session.add(
                            AnnotationExposure(
                                annotation_id=a.id, label_id=label.id, suggestion_visible=li == 0
                            )
                        )
    for ci, case in enumerate(cases[:10]):
        label = labels[ci % len(labels)]
        model, version = ("=model", "1") if ci % 2 else ("model", "0")
        if ci == 5:
            model, version = ("m\rodel", 'v"2')
        session.add(
            AiLabel(
                project_id=pid, case_id=case.id, label_id=label.id, value=ci % 3 == 0,
                score=0.9, model_name=model, version=version, threshold=0.5,
                accepted_by=users[0].id, at=now + timedelta(minutes=ci),
            )
        )  # fmt: skip
    session.commit()
    return pid


@pytest.fixture
def postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("the COPY export is PostgreSQL's (run with --backend postgres)")


def _both(session: Session, pid: int, tmp_path: Path) -> tuple[bytes, bytes]:
    assert copy_supported(session)
    calls: list[tuple[int, int, str]] = []
    fast = write_readings_csv(session, pid, tmp_path / "copy.csv", lambda *a: calls.append(a))
    slow = write_readings_csv(session, pid, tmp_path / "python.csv", server_side=False)
    cases = session.exec(select(func.count()).select_from(Case).where(Case.project_id == pid))
    assert fast.rows == slow.rows and calls[-1] == (n := cases.one(), n, "readings (cases)")
    assert fast.annotation_ids == slow.annotation_ids
    assert fast.ai_label_ids == slow.ai_label_ids
    return (tmp_path / "copy.csv").read_bytes(), (tmp_path / "python.csv").read_bytes()


def test_copy_export_equals_the_python_writer_on_hostile_data(
    session: Session, tmp_path: Path, postgres_only: None
) -> None:
    pid = _hostile_project(session)
    copied, written = _both(session, pid, tmp_path)
    assert copied == written
    text_out = written.decode("utf-8")
    assert "'=cmd" in text_out and "'+1" in text_out and "'@x" in text_out  # neutralised
    assert ",ai," in text_out and "nan" in text_out and "1234567890123456.8" in text_out
    assert '"' + "'\rCR first" + '"' in text_out  # a row with a CR: every cell quoted


def test_copy_export_is_in_utc_whatever_the_session_time_zone(
    session: Session, tmp_path: Path, postgres_only: None
) -> None:
    pid = _hostile_project(session)
    session.execute(text("SET TIME ZONE 'Asia/Kolkata'"))
    copied, written = _both(session, pid, tmp_path)
    assert copied == written and b"+05:30" not in copied and b"+00:00" in copied


def test_copy_export_of_an_empty_project(
    session: Session, tmp_path: Path, postgres_only: None
) -> None:
    project = Project(name="empty")
    session.add(project)
    session.commit()
    copied, written = _both(session, int(project.id or 0), tmp_path)
    assert copied == written == b",".join(c.encode() for c in _columns()) + b"\n"


def _columns() -> tuple[str, ...]:
    from markit_core.export.tables import READING_COLUMNS

    return READING_COLUMNS


def _random_doubles(n: int) -> list[float]:
    rng = random.Random(11)
    out: list[float] = []
    while len(out) < n:
        x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if not math.isnan(x):
            out.append(x)
        out.append(round(rng.uniform(-1e6, 1e6), rng.randrange(0, 9)))
        out.append(rng.uniform(1e15, 1e16) * rng.choice((1, -1)))
    return out + FLOATS


def test_sql_float_text_is_python_repr(session: Session, postgres_only: None) -> None:
    values = _random_doubles(3_000)
    session.execute(text("SELECT set_config('extra_float_digits', '1', true)"))
    sql = f"SELECT {_float('x')} FROM unnest(CAST(:xs AS float8[])) WITH ORDINALITY AS t(x, i)"
    got = session.execute(text(sql + " ORDER BY i"), {"xs": values}).scalars().all()
    assert got == [repr(x) for x in values]


def _binary_stream(rows: list[list[bytes | None]]) -> bytes:
    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack("!ii", 0, 4), b"ext!"]
    for row in rows:
        out.append(struct.pack("!h", len(row)))
        for field in row:
            out.append(struct.pack("!i", -1) if field is None else struct.pack("!i", len(field)))
            out.append(field or b"")
    out.append(struct.pack("!h", -1))
    return b"".join(out)


def test_binary_copy_parser_handles_any_chunking() -> None:
    rows = [[b"\x00" * 8, b'a,b\n\r"', None, b""], [b"1", "é".encode(), b"x" * 70_000, None]]
    stream = _binary_stream(rows)
    for size in (1, 2, 3, 7, 19, 64, 1000, len(stream)):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert list(binary_copy_rows(chunks)) == rows
    with pytest.raises(ValueError, match="ended before its trailer"):
        list(binary_copy_rows([stream[:-2]]))
    with pytest.raises(ValueError, match="signature"):
        list(binary_copy_rows([b"PGCOPY\n\xff\r\n\x01" + stream[11:]]))
    with pytest.raises(ValueError, match="after its trailer"):
        list(binary_copy_rows([stream, b"more"]))
