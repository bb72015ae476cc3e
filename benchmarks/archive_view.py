"""Viewing a case left in the archive: cold fetch, cached, and a local-store baseline.

Starts Debian's Orthanc with the DICOMweb plugin on free 127.0.0.1 ports (its
storage in a temporary folder), uploads ``--images`` generated 2048x2500 16-bit
DX radiographs (the display benchmark's demo chests), then in a throw-away
database references every study in one project and imports the same studies
into another (the baseline: today's copy into the local store). Times, as
medians over the cases:

- ``reference_ms_per_image``: referencing (retrieve, check, de-identify, decode,
  case row, ledger entries, cache fill), per image;
- ``cold_view_ms``: ``decoded_case_image`` of a referenced case with both caches
  empty: WADO-RS, de-identification, limits, decode, pixel check, cache write;
- ``cached_view_ms``: the same with the image in the archive cache (the decoded
  LRU emptied): a cache read and a decode, what a prefetched case costs;
- ``local_view_ms`` (baseline): an imported case from the image store, LRU emptied.

Last line: JSON with those keys and ``cached_over_local`` (goal: <= 1.5, a
prefetched archive case costs about what a local one does).
Run: ``python benchmarks/archive_view.py [--images 6]``.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.isolated import temp_settings  # noqa: E402
from tests.servers import free_port, stop  # noqa: E402

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "markit-bench", "orthanc-bench-password"


def _start_orthanc(root: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    if not Path(binary).exists() or not PLUGIN.exists():
        raise SystemExit("Orthanc with the DICOMweb plugin is not installed")
    port = free_port()
    config = {
        "Name": "MARKIT-BENCH",
        "StorageDirectory": str(root / "db"),
        "IndexDirectory": str(root / "db"),
        "HttpPort": port,
        "DicomPort": free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
        "HttpThreadsCount": 8,
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    with open(root / "orthanc.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, str(root / "orthanc.json")], cwd=root, stdout=log, stderr=log
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/system", auth=(USER, PASSWORD), timeout=1).ok:
                return proc, port
        except requests.ConnectionError:
            time.sleep(0.1)
    stop(proc)
    raise SystemExit("Orthanc did not start within 30 s")


def _radiographs(n: int) -> list[bytes]:
    from markit_core.demo.dicom import build_dicom, fake_identity
    from markit_core.demo.generator import DEMO_LABELS, make_chest_array

    out = []
    for i in range(n):
        rng = np.random.default_rng(2048 + i)
        truth = dict.fromkeys(DEMO_LABELS, False) | {"pleural effusion": bool(i % 2)}
        pixels, _ = make_chest_array(truth, rng, (2500, 2048))
        ds = build_dicom(pixels, patient=fake_identity(rng, 0, i), uid_seed=f"archive-bench-{i}")
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


def _setup(settings, url: str, files: list[bytes]) -> tuple[list[str], list[str], float]:
    """Reference every study in one project, import them into another; stored paths, ms/image."""
    import pydicom
    from sqlmodel import select

    from markit_core.accounts import create_user, get_user
    from markit_core.db import open_database, session
    from markit_core.imaging.reference import reference_studies
    from markit_core.imaging.remote_archives import add_archive
    from markit_core.imaging.remote_import import import_studies
    from markit_core.models import Case
    from markit_core.projects import create_project

    uids = [
        str(pydicom.dcmread(io.BytesIO(f), stop_before_pixels=True).StudyInstanceUID) for f in files
    ]
    engine = open_database(settings)
    with session(engine) as s:
        create_user(s, None, "admin", "benchmark password", is_admin=True)
        admin = get_user(s, "admin")
        left, copied = create_project(s, admin, "Left"), create_project(s, admin, "Copied")
        archive = add_archive(
            s, admin, "PACS", "dicomweb", url=url, auth="basic", username=USER, secret=PASSWORD
        ).id
        started = time.perf_counter()
        ref = reference_studies(s, settings, admin, left.id, archive, uids)
        per_image = (time.perf_counter() - started) * 1000.0 / max(1, len(files))
        imp = import_studies(s, settings, admin, copied.id, archive, uids)
        assert len(ref.files.ingested) == len(imp.files.ingested) == len(files), ref.summary()
        paths = {
            pid: list(s.exec(select(Case.stored_path).where(Case.project_id == pid)).all())
            for pid in (left.id, copied.id)
        }
    engine.dispose()
    return paths[left.id], paths[copied.id], per_image


def _median_ms(paths: list[str], prepare, view) -> float:
    times = []
    for path in paths:
        prepare()
        started = time.perf_counter()
        view(path)
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    args = parser.parse_args()
    from markit_core.imaging.archive_cache import ArchiveCache
    from markit_core.imaging.cache import default_cache
    from markit_core.imaging.stored import decoded_case_image

    with tempfile.TemporaryDirectory(prefix="markit-archive-bench-") as tmp:
        root = Path(tmp)
        (root / "orthanc").mkdir()
        proc, port = _start_orthanc(root / "orthanc")
        try:
            files = _radiographs(args.images)
            for data in files:
                r = requests.post(
                    f"http://127.0.0.1:{port}/instances",
                    data=data,
                    auth=(USER, PASSWORD),
                    timeout=30,
                )
                r.raise_for_status()
            settings = temp_settings(root / "data")
            left, copied, per_image = _setup(settings, f"http://127.0.0.1:{port}/dicom-web", files)
            cache = ArchiveCache.from_settings(settings)
            lru = default_cache()

            def view(path: str) -> None:
                decoded_case_image(settings, path)

            cold = _median_ms(left, lambda: (cache.clear(), lru.clear()), view)
            for path in left:  # every referenced image in the archive cache, as after a prefetch
                view(path)
            assert cache.usage().files == len(left)
            cached = _median_ms(left, lru.clear, view)
            local = _median_ms(copied, lru.clear, view)
        finally:
            stop(proc)
    print(f"images: {args.images} DX radiographs, 2048x2500, 16-bit, in a local Orthanc")
    print(f"reference: {per_image:.0f} ms per image")
    print(f"cold view (WADO-RS + de-identify + decode): {cold:.0f} ms")
    print(f"cached view (archive cache + decode): {cached:.0f} ms")
    print(f"baseline, local store view (decode): {local:.0f} ms")
    print(
        json.dumps(
            {
                "reference_ms_per_image": round(per_image, 1),
                "cold_view_ms": round(cold, 1),
                "cached_view_ms": round(cached, 1),
                "local_view_ms": round(local, 1),
                "cached_over_local": round(cached / local, 2) if local else None,
            }
        )
    )


if __name__ == "__main__":
    main()
