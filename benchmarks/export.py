"""Export throughput and proof speed.

1. Seconds to export 100,000 annotations (10,000 cases x 10 readers, one answer
   and one rectangle each) as the readings CSV, the regions CSV and COCO JSON,
   streamed from SQLite; baseline in the same run: today's one-CSV export
   (``export_annotations_csv``) of the same answers. The regions CSV and COCO come from
   one pass over the regions, as in a bundle export.
2. Seconds to produce and verify 1,000 inclusion proofs in a 1,000,000-entry
   ledger (the entries fetched and re-hashed from the database, proofs checked
   against the root); the tree is loaded once first (reported). Baseline: one
   rebuild of the tree from its leaves, what an implementation without stored
   levels pays per proof. Also: loading the tree from its cache file, what each
   ``ledger prove`` run after the first pays.

Last line: JSON with ``export_100k_s`` and ``proofs_1k_s`` (goals <= 5 s, <= 1 s).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from benchmarks.isolated import temp_settings  # noqa: E402
from markit_core import ledger  # noqa: E402
from markit_core.audit.merkle import MerkleTree, leaf_hash, verify_inclusion  # noqa: E402
from markit_core.audit.tree import entries_by_seq, ledger_tree  # noqa: E402
from markit_core.db import open_database, session  # noqa: E402
from markit_core.export.bundle_export import write_region_files  # noqa: E402
from markit_core.export.csv_export import export_annotations_csv  # noqa: E402
from markit_core.export.tables import write_readings_csv  # noqa: E402
from markit_core.models import (  # noqa: E402
    Annotation,
    AnnotationValue,
    Case,
    LabelDef,
    LedgerHead,
    Project,
    Roi,
    User,
)

CASES, READERS = 10_000, 10
LEDGER_ENTRIES, PROOFS = 1_000_000, 1_000


def _project(s) -> tuple[User, int]:
    now = datetime.now(UTC)
    s.execute(
        insert(User),
        [{"id": 1, "username": "admin", "password_hash": "x", "is_admin": True, "created_at": now}]
        + [
            {"id": 10 + r, "username": f"reader{r}", "password_hash": "x", "created_at": now}
            for r in range(READERS)
        ],
    )
    s.execute(insert(Project).values(id=1, name="bench", created_at=now))
    s.execute(
        insert(LabelDef),
        [
            {"id": 1, "project_id": 1, "name": "nodule", "kind": "binary"},
            {"id": 2, "project_id": 1, "name": "outline", "kind": "roi"},
        ],
    )
    s.execute(
        insert(Case),
        [
            {
                "id": c,
                "project_id": 1,
                "content_hash": f"{c:064x}",
                "stored_path": f"x/{c}",
                "kind": "raster",
                "original_name": f"img{c}.png",
                "rows": 512,
                "cols": 512,
                "meta": {},
                "created_at": now,
            }
            for c in range(1, CASES + 1)
        ],
    )
    anns, vals, rois = [], [], []
    for c in range(1, CASES + 1):
        for r in range(READERS):
            aid = (c - 1) * READERS + r + 1
            anns.append(
                {
                    "id": aid,
                    "project_id": 1,
                    "case_id": c,
                    "annotator_id": 10 + r,
                    "version": 1,
                    "submit_token": f"t{aid}",
                    "submitted_at": now,
                    "total_seconds": 12.5,
                    "active_seconds": 10.0,
                    "idle_seconds": 2.5,
                }
            )
            vals.append(
                {
                    "annotation_id": aid,
                    "label_id": 1,
                    "value": (c + r) % 3 == 0,
                    "confidence": 80,
                    "seconds": 4.25,
                }
            )
            x = float((c * 7 + r) % 400)
            rois.append(
                {
                    "annotation_id": aid,
                    "label_id": 2,
                    "shape": "rect",
                    "frame": 0,
                    "points": [[x, x / 2], [x + 50.5, x / 2 + 40.0]],
                }
            )
    s.execute(insert(Annotation), anns)
    s.execute(insert(AnnotationValue), vals)
    s.execute(insert(Roi), rois)
    s.commit()
    return s.get(User, 1), 1


def _quiet(done: int, total: int, what: str) -> None:
    return None


def bench_export(tmp: Path) -> tuple[float, float]:
    engine = open_database(temp_settings(tmp / "export"))
    with session(engine) as s:
        admin, pid = _project(s)
        t0 = time.perf_counter()
        text = export_annotations_csv(s, admin, pid)
        baseline = time.perf_counter() - t0
        assert text.count("\n") == CASES * READERS + 1
        out = tmp / "out"
        out.mkdir()
        t0 = time.perf_counter()
        readings = write_readings_csv(s, pid, out / "annotations.csv")
        regions, coco = write_region_files(s, pid, out, ["csv", "coco"], _quiet)
        elapsed = time.perf_counter() - t0
    engine.dispose()
    assert readings.rows == regions.rows == coco.rows == CASES * READERS
    print(f"baseline: today's one-CSV export of {CASES * READERS:,} answers in {baseline:.2f} s")
    print(
        f"export: readings CSV + regions CSV + COCO of {CASES * READERS:,} annotations "
        f"in {elapsed:.2f} s"
    )
    return elapsed, baseline


def _bulk_ledger(s, n: int) -> None:
    """``n`` valid chained entries with their leaf hashes, through the DB-API cursor."""
    columns = (*ledger.ENTRY_FIELDS, "entry_hash", "leaf_hash")
    sql = (
        f"INSERT INTO ledger_entry ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    cursor = s.connection().connection.cursor()
    prev, rows = ledger.GENESIS, []
    at = datetime.now(UTC).isoformat()
    for seq in range(1, n + 1):
        fields = {
            "seq": seq,
            "at": at,
            "actor_id": None,
            "actor": "",
            "project_id": None,
            "action": "bench",
            "record_type": "login_attempt",
            "record_id": str(seq),
            "record_digest": f"{seq:064x}",
            "removed": False,
            "prev_hash": prev,
        }
        content = ledger.entry_bytes(fields)
        prev = hashlib.sha256(content).hexdigest()
        rows.append((*fields.values(), prev, leaf_hash(content).hex()))
        if len(rows) == 50_000:
            cursor.executemany(sql, rows)
            rows = []
    if rows:
        cursor.executemany(sql, rows)
    cursor.close()
    s.execute(insert(LedgerHead).values(id=1, seq=n, entry_hash=prev))
    s.commit()


def bench_proofs(tmp: Path) -> tuple[float, float, float, float]:
    engine = open_database(temp_settings(tmp / "ledger"))
    with session(engine) as s:
        t0 = time.perf_counter()
        _bulk_ledger(s, LEDGER_ENTRIES)
        print(
            f"setup: {LEDGER_ENTRIES:,} ledger entries written in {time.perf_counter() - t0:.1f} s"
        )
    with session(engine) as s:
        t0 = time.perf_counter()
        tree = ledger_tree(s)
        load = time.perf_counter() - t0
        cache = tmp / "ledger-tree.bin"
        ledger_tree(s, cache=cache)  # writes the cache, as the first CLI call does
        t0 = time.perf_counter()
        cached = ledger_tree(s, cache=cache)  # what every later `ledger prove` pays
        load_cached = time.perf_counter() - t0
        assert cached.root() == tree.root()
        root, size = tree.root(), len(tree)
        leaves = [tree.leaf(i) for i in range(size)]
        t0 = time.perf_counter()
        assert MerkleTree(leaves).root() == root
        rebuild = time.perf_counter() - t0
        del leaves
        seqs = random.Random(1).sample(range(1, size + 1), PROOFS)
        t0 = time.perf_counter()
        for entry in entries_by_seq(s, seqs):
            i = entry["seq"] - 1
            proof = tree.inclusion_proof(i, size)
            verify_inclusion(i, size, leaf_hash(ledger.entry_bytes(entry)), proof, root)
        proofs = time.perf_counter() - t0
    engine.dispose()
    print(f"tree: {size:,} leaves loaded from the database in {load:.2f} s")
    print(f"tree: the same from its cache file in {load_cached:.2f} s (later `ledger prove` calls)")
    print(
        f"baseline: one rebuild of the tree from its leaves in {rebuild:.2f} s "
        f"(x{PROOFS} for proofs without stored levels)"
    )
    print(f"proofs: {PROOFS} inclusion proofs produced and verified in {proofs:.3f} s")
    return proofs, rebuild, load, load_cached


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        export_s, export_base = bench_export(Path(tmp))
        proofs_s, rebuild_s, load_s, cached_s = bench_proofs(Path(tmp))
    print(
        json.dumps(
            {
                "export_100k_s": round(export_s, 3),
                "export_baseline_one_csv_s": round(export_base, 3),
                "proofs_1k_s": round(proofs_s, 3),
                "proof_baseline_tree_rebuild_s": round(rebuild_s, 3),
                "tree_load_1m_s": round(load_s, 3),
                "tree_load_cached_1m_s": round(cached_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
