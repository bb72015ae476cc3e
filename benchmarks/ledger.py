"""Ledger throughput: appends per second (SQLite, one process) and seconds to verify 100k entries.

Each append is a real state change as the services make it: a login-attempt
row plus its ledger entry, committed in its own transaction. Verification
recomputes every entry hash and re-digests every logged record.
Last line: JSON with ``appends_per_s`` and ``verify_100k_s``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from benchmarks.isolated import temp_settings  # noqa: E402
from markit_core import ledger  # noqa: E402
from markit_core.db import open_database, session  # noqa: E402
from markit_core.models import LedgerEntry, LedgerHead, LoginAttempt, utcnow  # noqa: E402

TIMED_APPENDS = 3000
VERIFY_ENTRIES = 100_000


def _bulk_chain(s, n: int) -> None:
    """Write ``n`` valid entries (with their records) quickly, to have something to verify."""
    prev, rows, attempts = ledger.GENESIS, [], []
    start = utcnow()
    for seq in range(1, n + 1):
        attempt = {
            "id": seq,
            "username": f"user{seq % 50}",
            "user_id": None,
            "success": False,
            "at": start,
        }
        attempts.append(attempt)
        fields = {
            "seq": seq,
            "at": start.isoformat(),
            "actor_id": None,
            "actor": "",
            "project_id": None,
            "action": "login.failed",
            "record_type": "login_attempt",
            "record_id": str(seq),
            "record_digest": ledger.digest_row("login_attempt", attempt),
            "removed": False,
            "prev_hash": prev,
        }
        fields["entry_hash"] = prev = ledger.entry_hash(fields)
        rows.append(fields)
    s.execute(insert(LoginAttempt), attempts)
    s.execute(insert(LedgerEntry), rows)
    s.execute(insert(LedgerHead).values(id=1, seq=n, entry_hash=prev))
    s.commit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=TIMED_APPENDS)
    parser.add_argument("--verify-entries", type=int, default=VERIFY_ENTRIES)
    args = parser.parse_args(argv)
    n_appends, n_verify = args.appends, args.verify_entries
    # its own database even when MARKIT_DATABASE_URL names the configured one
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_database(temp_settings(Path(tmp) / "append"))
        with session(engine) as s:
            t0 = time.perf_counter()
            for i in range(n_appends):
                attempt = LoginAttempt(username=f"user{i % 50}", success=False)
                s.add(attempt)
                ledger.append(s, actor=None, project_id=None, action="login.failed", record=attempt)
                s.commit()
            append_s = time.perf_counter() - t0
            assert ledger.integrity(s).ok
        engine.dispose()
        appends_per_s = n_appends / append_s
        print(
            f"append: {n_appends} entries, one transaction each, in {append_s:.2f} s "
            f"-> {appends_per_s:,.0f} appends/s"
        )

        engine = open_database(temp_settings(Path(tmp) / "verify"))
        with session(engine) as s:
            _bulk_chain(s, n_verify)
        with session(engine) as s:
            t0 = time.perf_counter()
            result = ledger.integrity(s)
            verify_s = time.perf_counter() - t0
        engine.dispose()
        assert result.ok and result.entries == n_verify, result
        print(
            f"verify: {result.entries:,} entries and {result.records_checked:,} records "
            f"in {verify_s:.2f} s"
        )
    print(
        json.dumps({"appends_per_s": round(appends_per_s, 1), "verify_100k_s": round(verify_s, 3)})
    )


if __name__ == "__main__":
    main()
