"""``ingest`` and ``import-reports`` on the command line: output lines and exit codes."""

from __future__ import annotations

import io
import sys

import pytest

from markit_core import cli
from markit_core.commands import imaging as imaging_cmd
from tests.imaging_fixtures import dicom_bytes, identified_dicom, png_bytes


@pytest.fixture
def main(tmp_path, monkeypatch):
    """``cli.main`` on a fresh data dir with an admin and a project."""
    monkeypatch.setenv("MARKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MARKIT_DATABASE_URL", raising=False)
    assert cli.COMMANDS["ingest"] == imaging_cmd.__name__.rsplit(".", 1)[-1]
    monkeypatch.setattr(sys, "stdin", io.StringIO("a good password\n"))
    assert cli.main(["create-user", "boss", "--password-stdin"]) == 0
    assert cli.main(["create-project", "Chest"]) == 0
    return cli.main


def test_ingest_prints_refusals_and_exits_by_outcome(main, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(dicom_bytes(identified_dicom(seed=1)))
    (folder / "b.png").write_bytes(png_bytes(1))
    (folder / "notes.txt").write_text("not an image")
    capsys.readouterr()
    assert main(["ingest", "--project", "Chest", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"refused: {folder}/notes.txt: not an image: not a DICOM or PNG/JPEG/TIFF file"
    assert out[-1] == "3 files: 2 ingested, 0 already present, 1 refused"

    assert main(["ingest", "--project", "Chest", str(folder)]) == 0  # all already present
    assert capsys.readouterr().out.splitlines()[-1].startswith("3 files: 0 ingested, 2 already")

    assert main(["ingest", "--project", "Chest", str(folder / "notes.txt")]) == 1
    assert main(["ingest", "--project", "Chest", str(tmp_path / "missing.dcm")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["ingest", "--project", "Nope", str(folder)]) == 2
    assert "project 'Nope' not found" in capsys.readouterr().err


def test_import_reports_command(main, tmp_path, capsys):
    ds = identified_dicom(seed=2)
    (tmp_path / "a.dcm").write_bytes(dicom_bytes(ds))
    assert main(["ingest", "--project", "Chest", str(tmp_path / "a.dcm")]) == 0
    csv_path = tmp_path / "reports.csv"
    csv_path.write_text(f"accession,report\n{ds.AccessionNumber},Normal chest.\nX-1,lost\n")
    capsys.readouterr()
    assert main(["import-reports", "--project", "Chest", str(csv_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "unmatched: row 3: X-1",
        "2 rows: 1 matched (1 reports added, 0 already present), 1 unmatched",
    ]
    csv_path.write_text("accession,report\nA,b,c\n")
    assert main(["import-reports", "--project", "Chest", str(csv_path)]) == 2
    assert "reports.csv: row 2: 3 fields" in capsys.readouterr().err


def test_remote_import_commands_report_source_errors(main, capsys):
    down = "http://127.0.0.1:1/dicom-web"
    assert main(["dicomweb-import", "--project", "Chest", "--url", down]) == 1
    assert "cannot connect" in capsys.readouterr().err
    assert main(["dicomweb-import", "--project", "Chest", "--url", "ftp://x"]) == 2
    assert (
        main(["dicomweb-import", "--project", "Chest", "--url", "http://h", "--password", "p"]) == 2
    )
    assert (
        main(
            [
                "dimse-import",
                "--project",
                "Chest",
                "--host",
                "127.0.0.1",
                "--port",
                "1",
                "--called-aet",
                "PACS",
            ]
        )
        == 1
    )
    assert "refused the connection" in capsys.readouterr().err
