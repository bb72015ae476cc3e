"""Hostile uploads: time to refuse and peak memory per file (issue 9, goal <= 2 s and <= 500 MB).

Generates a hostile set into a temporary folder (a 200 MB file of zeros named
``.dcm``, a DICOM header followed by zeros, truncated DICOMs, a DICOM header
claiming 100 000 frames, a small multi-page TIFF that decodes to gigabytes,
PNG and JPEG decompression bombs, a zip bomb, a zip that lies about its size,
a nested zip bomb, random bytes) and uploads each file through the real
``ingest`` pipeline into its own temporary database, one subprocess per file,
so each file's peak memory (``ru_maxrss``) is its own. The baseline is a
normal DICOM and a normal PNG uploaded the same way in the same run.

Last line: JSON with ``worst_refusal_s``, ``worst_peak_mb`` (peak RSS of the
process, interpreter and libraries included), ``worst_traced_mb`` (peak Python
and numpy allocations while ingesting), ``files``, ``all_refused`` and the
baseline figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL_S, GOAL_MB = 2.0, 500.0


# -- the hostile set ----------------------------------------------------------------------


def _dicom(rows: int, cols: int, frames: int = 1, pixels: bytes | None = None) -> bytes:
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "HOSTILE", "Test^Hostile", "DX"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    if frames > 1:
        ds.NumberOfFrames = frames
    if pixels is None:
        rng = np.random.default_rng(0)
        pixels = rng.integers(0, 4096, (rows, cols), dtype=np.uint16).tobytes()
    ds.PixelData = pixels
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _png_bomb(path: Path, side: int) -> None:
    """A greyscale PNG of ``side`` x ``side`` zeros, written row by row (never in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    comp = zlib.compressobj(9)
    row = bytes(side + 1)
    parts = []
    for _ in range(side):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def _jpeg_bomb(path: Path) -> None:
    """A small JPEG whose frame header claims 65000 x 65000 pixels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (64, 64)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    path.write_bytes(bytes(data))


def _tiff_bomb(path: Path, pages: int = 300, side: int = 4000) -> None:
    from PIL import Image

    blank = Image.new("L", (side, side))
    blank.save(
        path,
        "TIFF",
        save_all=True,
        append_images=[blank] * (pages - 1),
        compression="tiff_adobe_deflate",
    )


def _zip_of_zeros(path: Path, member: str, size: int) -> None:
    block = bytes(1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open(member, "w", force_zip64=True) as fh,
    ):
        for _ in range(size >> 20):
            fh.write(block)


def _lying_zip(path: Path, real: int = 300 << 20) -> None:
    """A zip whose directory says its member has 1000 bytes but it inflates to ``real``."""
    head = b"\0" * 128 + b"DICM"
    _zip_of_zeros(path, "liar.dcm", real)
    data = bytearray(path.read_bytes())
    # rewrite the member's size in the ZIP64 extra fields and the 32-bit fields
    for marker, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = data.index(marker)
        if data[pos + off : pos + off + 4] != b"\xff\xff\xff\xff":
            data[pos + off : pos + off + 4] = struct.pack("<I", 1000)
    pos = 0
    while (pos := data.find(b"\x01\x00", pos)) != -1 and pos < len(data) - 12:
        (n,) = struct.unpack_from("<H", data, pos + 2)
        if n in (16, 24, 28):
            (size,) = struct.unpack_from("<Q", data, pos + 4)
            if size == real:
                data[pos + 4 : pos + 12] = struct.pack("<Q", 1000)
        pos += 2
    del head
    path.write_bytes(bytes(data))


def generate(folder: Path) -> dict[str, Path]:
    """Write the hostile set; return {label: path}."""
    files: dict[str, Path] = {}

    def put(label: str, name: str, data: bytes) -> None:
        files[label] = folder / name
        files[label].write_bytes(data)

    with open(folder / "zeros_200mb.dcm", "wb") as fh:
        fh.truncate(200 << 20)
    files["zero-filled .dcm, 200 MB"] = folder / "zeros_200mb.dcm"
    put(
        "DICM preamble then 100 MB of zeros",
        "preamble_zeros.dcm",
        b"\0" * 128 + b"DICM" + bytes(100 << 20),
    )
    good = _dicom(512, 512)
    header_end = good.index(b"\xe0\x7f\x10\x00")
    put(
        "DICOM header then 100 MB of zeros",
        "header_zeros.dcm",
        good[:header_end] + bytes(100 << 20),
    )
    put("truncated DICOM (half)", "truncated_half.dcm", good[: len(good) // 2])
    put("truncated DICOM (in the header)", "truncated_header.dcm", good[:200])
    put("DICOM truncated after the pixel tag", "truncated_pixels.dcm", good[: header_end + 12])
    put(
        "DICOM claiming 100 000 frames of 512 x 512",
        "frames_1e5.dcm",
        _dicom(512, 512, frames=100_000, pixels=bytes(512 * 512 * 2)),
    )
    put(
        "DICOM claiming 65535 x 65535 pixels",
        "huge_dims.dcm",
        _dicom(65535, 65535, pixels=bytes(2)),
    )
    put("random bytes, 50 MB", "random.dcm", os.urandom(50 << 20))
    _tiff_bomb(folder / "pages.tif")
    files["multi-page TIFF, 300 x 4000 x 4000"] = folder / "pages.tif"
    _png_bomb(folder / "bomb.png", 30000)
    files["PNG bomb, 30000 x 30000"] = folder / "bomb.png"
    _jpeg_bomb(folder / "bomb.jpg")
    files["JPEG claiming 65000 x 65000"] = folder / "bomb.jpg"
    _zip_of_zeros(folder / "zip_bomb.zip", "scan.dcm", 1 << 30)
    files["zip bomb, 1 GB of zeros in one member"] = folder / "zip_bomb.zip"
    _lying_zip(folder / "lying.zip")
    files["zip declaring 1000 bytes, inflating to 300 MB"] = folder / "lying.zip"
    with zipfile.ZipFile(folder / "nested.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.write(folder / "zip_bomb.zip", "inner.zip")
    files["nested zip bomb"] = folder / "nested.zip"
    return files


# -- one upload per process ------------------------------------------------------------


def _setup(data_dir: Path) -> int:
    from benchmarks.isolated import temp_settings
    from markit_core.accounts import create_user, get_user
    from markit_core.db import open_database, session
    from markit_core.projects import create_project

    engine = open_database(temp_settings(data_dir))
    with session(engine) as s:
        create_user(s, None, "bench", "a long enough password", is_admin=True)
        project = create_project(s, get_user(s, "bench"), "Hostile")
    engine.dispose()
    return project.id


def _one(path: Path, data_dir: Path, project_id: int) -> dict:
    from PIL import Image

    from benchmarks.isolated import temp_settings
    from markit_core.accounts import get_user
    from markit_core.db import open_database, session
    from markit_core.imaging.ingest import ingest

    settings = temp_settings(data_dir)
    engine = open_database(settings)
    Image.init()  # a running server has its image plugins loaded: not part of a refusal
    with session(engine) as s:
        user = get_user(s, "bench")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tracemalloc.start()
        t0 = time.perf_counter()
        report = ingest(s, settings, user, project_id, [(path.name, path)])
        elapsed = time.perf_counter() - t0
        traced = tracemalloc.get_traced_memory()[1] / (1 << 20)
        tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": elapsed,
        "peak_mb": peak,
        "rss_before_mb": before,
        "traced_mb": traced,
        "ingested": len(report.ingested),
        "reasons": [o.line() for o in report.outcomes][:3],
    }


def _run_child(path: Path, data_dir: Path, project_id: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MARKIT_DATABASE_URL"}
    cmd = [sys.executable, __file__, "--one", str(path), "--data", str(data_dir)]
    proc = subprocess.run(
        [*cmd, "--project", str(project_id)], capture_output=True, text=True, env=env, timeout=900
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{path.name}: child failed: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _print(*args: object) -> None:
    print(*args, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--project", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args.one, args.data, args.project)))
        return 0

    with tempfile.TemporaryDirectory(prefix="markit-bench-hostile-") as tmp:
        folder, data_dir = Path(tmp) / "files", Path(tmp) / "data"
        folder.mkdir()
        t0 = time.perf_counter()
        files = generate(folder)
        _print(f"generated {len(files)} hostile files in {time.perf_counter() - t0:.1f} s")
        project_id = _setup(data_dir)
        baseline = {}
        from PIL import Image

        Image.new("L", (2048, 2048), 90).save(folder / "normal.png")
        (folder / "normal.dcm").write_bytes(_dicom(2048, 2048))
        for label in ("normal.dcm", "normal.png"):
            res = _run_child(folder / label, data_dir, project_id)
            baseline[label] = res
            _print(
                f"baseline {label:<50} accepted={res['ingested']} {res['seconds']:6.2f} s "
                f"peak {res['peak_mb']:6.0f} MB (before {res['rss_before_mb']:.0f} MB)"
            )
        results = {}
        for label, path in files.items():
            size = path.stat().st_size / (1 << 20)
            res = _run_child(path, data_dir, project_id)
            results[label] = res
            verdict = "ACCEPTED" if res["ingested"] else "refused"
            _print(
                f"{label:<52} {size:8.1f} MB  {verdict:8} {res['seconds']:6.2f} s  "
                f"peak {res['peak_mb']:6.0f} MB  traced {res['traced_mb']:6.1f} MB"
            )
            _print(f"    {res['reasons'][0][:160]}")
    worst_s = max(r["seconds"] for r in results.values())
    worst_mb = max(r["peak_mb"] for r in results.values())
    summary = {
        "worst_refusal_s": round(worst_s, 3),
        "worst_peak_mb": round(worst_mb, 1),
        "worst_traced_mb": round(max(r["traced_mb"] for r in results.values()), 1),
        "files": len(results),
        "all_refused": all(r["ingested"] == 0 for r in results.values()),
        "goal_s": GOAL_S,
        "goal_mb": GOAL_MB,
        "baseline_dicom_s": round(baseline["normal.dcm"]["seconds"], 3),
        "baseline_dicom_peak_mb": round(baseline["normal.dcm"]["peak_mb"], 1),
        "baseline_png_s": round(baseline["normal.png"]["seconds"], 3),
        "baseline_idle_rss_mb": round(baseline["normal.png"]["rss_before_mb"], 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
