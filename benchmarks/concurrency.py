"""Concurrent submits: 16 processes as 16 annotators submit 50 readings each, SQLite and PostgreSQL.

Each annotator is its own OS process with its own engine (as app replicas or
CLI clients would be), released together by a barrier, submitting real
readings through ``markit_core.annotation.submit.submit`` (permission check,
queue check, versioning, ledger entry, one transaction each) over the same 50
cases in its own shuffled order, so they contend on the same cases and on the
ledger head. A submit that fails (SQLite busy, serialisation conflict) is
retried with the same submit token, as the page does on a resubmit; the token
makes the retry idempotent.

Afterwards the run checks that every (annotator, case) reading is stored once
(``lost`` = readings missing, ``duplicated`` = readings stored more than once)
and that the ledger verifies. The baseline is one annotator submitting alone
on the same database, measured in the same run.

Databases are always temporary (a SQLite file in WAL mode; a throw-away
PostgreSQL cluster started like ``tests/servers.py`` does), never
``MARKIT_DATABASE_URL``. Without PostgreSQL's binaries that half is skipped
with the reason. Goal: p95 <= 100 ms on PostgreSQL.
Last line: JSON with ``sqlite_p95_ms``, ``postgres_p95_ms``, ``lost``, ``duplicated``.

Run: ``python benchmarks/concurrency.py [--processes 16] [--readings 50]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "benchmark password"
GOAL_P95_MS = 100.0
RETRIES = 20


def _setup(url: str, data_dir: Path, annotators: int, cases: int) -> tuple[int, list[int]]:
    """Migrate, create users, a project with the chest labels and ``cases`` images."""
    from benchmarks.isolated import temp_settings
    from markit_core import accounts
    from markit_core.accounts import create_user, get_user
    from markit_core.db import open_database, session
    from markit_core.imaging.ingest import ingest
    from markit_core.labels import CHEST_XRAY_LABELS, add_labels
    from markit_core.models import Case, Role
    from markit_core.projects import create_project, grant_role
    from tests.imaging_fixtures import png_bytes

    accounts.configure_hashing(time_cost=1, memory_cost_kib=1024)
    settings = temp_settings(data_dir, url)
    engine = open_database(settings)
    with session(engine) as s:
        create_user(s, None, "root", PASSWORD, is_admin=True)
        root = get_user(s, "root")
        project = create_project(s, root, "Concurrency")
        add_labels(s, root, project.id, CHEST_XRAY_LABELS)
        for n in range(annotators + 1):  # the last one is the baseline reader
            create_user(s, root, f"ann{n}", PASSWORD)
            grant_role(s, root, project.id, f"ann{n}", Role.ANNOTATOR)
        grant_role(s, root, project.id, "root", Role.DATA_OWNER)
        items = [(f"c{i}.png", png_bytes(i, size=(32, 32))) for i in range(cases)]
        report = ingest(s, settings, root, project.id, items)
        assert len(report.ingested) == cases, report
        from sqlmodel import select

        case_ids = list(s.exec(select(Case.id).where(Case.project_id == project.id)).all())
    engine.dispose()
    return int(project.id), [int(c) for c in case_ids if c is not None]


def _worker(url: str, username: str, project_id: int, case_ids: list[int], barrier, out) -> None:
    """One annotator: submit a reading of every case, timing each submit (with its retries)."""
    from sqlalchemy.exc import OperationalError

    from markit_core.accounts import get_user
    from markit_core.annotation.submit import Answer, submit
    from markit_core.db import make_engine, session
    from markit_core.errors import ConflictError
    from markit_core.labels import list_labels

    engine = make_engine(url)
    rng = random.Random(username)
    order = case_ids[:]
    rng.shuffle(order)
    times, retries, failed = [], 0, 0
    with session(engine) as s:
        me = get_user(s, username)
        labels = [lab.id for lab in list_labels(s, me, project_id)]
    if barrier is not None:
        barrier.wait()
    start = time.time()
    for case_id in order:
        answers = {lab: Answer(rng.random() < 0.3, rng.choice((60, 80, 100))) for lab in labels}
        token = uuid.uuid4().hex
        t0 = time.perf_counter()
        for attempt in range(RETRIES + 1):
            try:
                with session(engine) as s:
                    submit(s, me, project_id, case_id, answers=answers, token=token)
                break
            except (OperationalError, ConflictError):
                retries += 1
                time.sleep(0.005 * (attempt + 1))
        else:
            failed += 1
        times.append((time.perf_counter() - t0) * 1000.0)
    out.put(
        {"times": times, "retries": retries, "failed": failed, "start": start, "end": time.time()}
    )
    engine.dispose()


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _check(url: str, annotators: int, cases: int) -> dict[str, Any]:
    """Count stored readings per (annotator, case) and verify the ledger."""
    from sqlalchemy import text

    from markit_core import ledger
    from markit_core.db import make_engine, session

    engine = make_engine(url)
    with session(engine) as s:
        pairs = s.execute(
            text(
                "SELECT u.username, a.case_id, count(*) FROM annotation a "
                "JOIN user_account u ON u.id = a.annotator_id GROUP BY u.username, a.case_id"
            )
        ).all()
        submits_logged = s.execute(
            text("SELECT count(*) FROM ledger_entry WHERE action = 'annotation.submit'")
        ).scalar_one()
        result = ledger.integrity(s)
    engine.dispose()
    expected = (annotators + 1) * cases
    return {
        "lost": expected - len(pairs),
        "duplicated": sum(n - 1 for _, _, n in pairs),
        "ledger_ok": result.ok,
        "ledger_problem": str(result.problem) if result.problem else None,
        "submits_logged": int(submits_logged),
        "expected": expected,
    }


def run_backend(name: str, url: str, data_dir: Path, annotators: int, cases: int) -> dict:
    t0 = time.perf_counter()
    project_id, case_ids = _setup(url, data_dir, annotators, cases)
    setup_s = time.perf_counter() - t0
    print(f"{name}: set up {annotators + 1} annotators, {cases} cases in {setup_s:.1f} s")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    # baseline: one annotator alone
    _worker(url, f"ann{annotators}", project_id, case_ids, None, out)
    base = out.get()
    barrier = ctx.Barrier(annotators)
    procs = [
        ctx.Process(target=_worker, args=(url, f"ann{n}", project_id, case_ids, barrier, out))
        for n in range(annotators)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join(60)
    times = [t for r in results for t in r["times"]]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    check = _check(url, annotators, cases)
    stats = {
        "p50_ms": round(_pct(times, 50), 1),
        "p95_ms": round(_pct(times, 95), 1),
        "p99_ms": round(_pct(times, 99), 1),
        "submits_per_s": round(len(times) / wall, 1),
        "baseline_p50_ms": round(statistics.median(base["times"]), 1),
        "retries": sum(r["retries"] for r in results),
        "failed": sum(r["failed"] for r in results),
        **check,
    }
    print(
        f"{name}: {annotators} processes x {cases} submits: p50 {stats['p50_ms']} ms, "
        f"p95 {stats['p95_ms']} ms, p99 {stats['p99_ms']} ms, {stats['submits_per_s']} submits/s "
        f"(alone: p50 {stats['baseline_p50_ms']} ms); retries {stats['retries']}, "
        f"failed {stats['failed']}"
    )
    print(
        f"{name}: lost {check['lost']}, duplicated {check['duplicated']}, "
        f"ledger {'verifies' if check['ledger_ok'] else 'BROKEN: ' + str(check['ledger_problem'])}"
        f" ({check['submits_logged']} submit entries for {check['expected']} readings)"
    )
    return stats


def _postgres(tmp: Path, annotators: int, cases: int) -> dict | None:
    from markit_core.errors import MarkitError
    from markit_core.operations.pg_tools import find_pg_program

    try:
        for program in ("initdb", "pg_ctl", "createdb"):
            find_pg_program(program)
    except MarkitError as e:
        print(f"postgres: skipped: {e}")
        return None
    from tests.servers import postgres_server

    with postgres_server() as url:
        return run_backend("postgres", url, tmp / "pg-data", annotators, cases)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--readings", type=int, default=50, help="cases each annotator reads")
    args = parser.parse_args(argv)
    os.environ.pop("MARKIT_DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="markit-bench-concurrency-") as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'sqlite' / 'markit.db'}"
        sqlite = run_backend("sqlite", url, tmp / "sqlite", args.processes, args.readings)
        pg = _postgres(tmp, args.processes, args.readings)
    runs = [r for r in (sqlite, pg) if r is not None]
    ok = all(r["lost"] == 0 and r["duplicated"] == 0 and r["ledger_ok"] for r in runs)
    if pg is not None:
        verdict = "meets" if pg["p95_ms"] <= GOAL_P95_MS else "misses"
        print(f"postgres p95 {pg['p95_ms']} ms {verdict} the goal of {GOAL_P95_MS:.0f} ms")
    print(
        json.dumps(
            {
                "sqlite_p95_ms": sqlite["p95_ms"],
                "postgres_p95_ms": pg["p95_ms"] if pg else None,
                "lost": sum(r["lost"] for r in runs),
                "duplicated": sum(r["duplicated"] for r in runs),
                "ledger_ok": all(r["ledger_ok"] for r in runs),
                "sqlite_submits_per_s": sqlite["submits_per_s"],
                "postgres_submits_per_s": pg["submits_per_s"] if pg else None,
                "sqlite_p50_ms": sqlite["p50_ms"],
                "postgres_p50_ms": pg["p50_ms"] if pg else None,
                "sqlite_p99_ms": sqlite["p99_ms"],
                "postgres_p99_ms": pg["p99_ms"] if pg else None,
                "processes": args.processes,
                "readings_each": args.readings,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
