"""On SQLite the readings and regions CSV cells made by SQLite (written a chunk at a time)
are byte for byte the Python writer's, and names SQLite cannot handle take the Python path."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from markit_core.annotation.submit import RegionInput
from markit_core.export.bundle_export import write_region_files
from markit_core.export.sqlite_cells import prepared_cells_fit, prepared_regions_fit
from markit_core.export.tables import write_readings_csv, write_regions_csv
from markit_core.models import Case, LabelDef, User
from tests.export.helpers import export_project
from tests.export.test_copy_csv import _hostile_project

# every one of these the database neutralises or the csv module quotes; none holds a \r
NAMES = ["=cmd", "\ttab", 'quo"te, com,ma', "new\nline naïve 漢字 🙂"]


def _readings_both(session: Session, pid: int, tmp_path: Path) -> tuple[bytes, bytes]:
    fast = write_readings_csv(session, pid, tmp_path / "fast.csv")
    slow = write_readings_csv(session, pid, tmp_path / "slow.csv", server_side=False)
    assert fast.rows == slow.rows and fast.annotation_ids == slow.annotation_ids
    return (tmp_path / "fast.csv").read_bytes(), (tmp_path / "slow.csv").read_bytes()


def test_sqlite_cells_equal_the_python_writer(
    session, settings, make_user, make_project, admin, tmp_path, backend
) -> None:
    project = export_project(session, settings, make_user, make_project, admin)
    pid = project.project_id
    cases = session.exec(select(Case).where(Case.project_id == pid).order_by(Case.id)).all()
    for case, name in zip(cases, NAMES, strict=True):
        case.original_name = name
    label = session.get(LabelDef, project.example.labels["effusion"])
    label.name = "=SUM(A1)"
    session.get(User, project.example.annotators["ann_c"].id).username = "+1 -x @x"
    session.commit()
    assert prepared_cells_fit(session, pid) == (backend == "sqlite")
    fast, slow = _readings_both(session, pid, tmp_path)
    text = slow.decode()
    assert fast == slow and "'=SUM(A1)" in text and "'\ttab" in text and "'+1 -x @x" in text
    assert '"quo""te, com,ma"' in text and '"new\nline naïve 漢字 🙂"' in text


def test_a_carriage_return_or_ai_answers_take_the_python_path(session, tmp_path, backend) -> None:
    pid = _hostile_project(session)  # names with \r, answers stored by the AI
    assert not prepared_cells_fit(session, pid)
    fast, slow = _readings_both(session, pid, tmp_path)
    assert fast == slow


def test_regions_and_coco_from_sqlite_rows_equal_the_python_path(
    session, settings, make_user, make_project, admin, tmp_path, backend
) -> None:
    project = export_project(session, settings, make_user, make_project, admin)
    pid = project.project_id
    ex = project.example
    reader = session.get(User, ex.annotators["ann_b"].id)
    reader.username = 'b "quoted", naïve'
    session.commit()
    from tests.review_helpers import read

    read(
        session, ex.annotators["ann_b"], pid, ex.cases[1], {},
        regions=(RegionInput(ex.labels["lesion outline"], "rect", [(-0.0, 3), (1e-7, 2.5)]),),
        token="rect-b-2",
    )  # fmt: skip
    assert prepared_regions_fit(session, pid) == (backend == "sqlite")
    both, coco_only, csv_only = (tmp_path / n for n in ("both", "coco", "csv"))
    for folder in (both, coco_only, csv_only):
        folder.mkdir()
    written = write_region_files(session, pid, both, ["csv", "coco"], lambda *a: None)
    write_region_files(session, pid, coco_only, ["coco"], lambda *a: None)
    alone = write_regions_csv(session, pid, csv_only / "regions.csv")
    assert written[0].rows == alone.rows > 0
    assert written[0].annotation_ids == alone.annotation_ids
    assert (both / "regions.csv").read_bytes() == (csv_only / "regions.csv").read_bytes()
    assert (both / "coco.json").read_bytes() == (coco_only / "coco.json").read_bytes()
    assert 'b ""quoted"", naïve' in (both / "regions.csv").read_text(encoding="utf-8")


def test_a_formula_name_keeps_the_regions_on_the_python_path(
    session, settings, make_user, make_project, admin, tmp_path
) -> None:
    project = export_project(session, settings, make_user, make_project, admin)
    reader = session.get(User, project.example.annotators["ann_b"].id)
    reader.username = "=evil"
    session.commit()
    assert not prepared_regions_fit(session, project.project_id)
    (tmp_path / "b").mkdir()
    write_region_files(session, project.project_id, tmp_path / "b", ["csv", "coco"], print)
    assert "'=evil" in (tmp_path / "b" / "regions.csv").read_text(encoding="utf-8")
