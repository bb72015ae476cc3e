"""Finding and calling PostgreSQL's own client programs (``pg_dump``, ``pg_restore``).

MarkIt does not re-implement dumps: a PostgreSQL backup is ``pg_dump`` in custom
format, restored with ``pg_restore``. The programs come from the Debian
``postgresql-client`` package; the newest version installed under
``/usr/lib/postgresql/*/bin`` is preferred (``pg_dump`` must be at least the
server's version), then whatever is on ``PATH``.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Sequence

from sqlalchemy.engine import URL, make_url

from markit_core.errors import MarkitError


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([0-9.]+)/bin/", path)
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def find_pg_program(name: str) -> str:
    """Absolute path of a PostgreSQL client program; ``MarkitError`` naming it if absent."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise MarkitError(
            f"{name} is not installed: PostgreSQL backups need the PostgreSQL client "
            "programs (Debian package postgresql-client)"
        )
    return path


def libpq_target(url: str | URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for a SQLAlchemy URL, and the environment that carries its password.

    The password goes in ``PGPASSWORD`` rather than the command line, where
    other users of the machine could read it in the process list.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def run_pg_program(name: str, args: Sequence[str], url: str | URL, what: str) -> None:
    """Run ``name args... --dbname URL``; ``MarkitError`` with its message if it fails."""
    target, env = libpq_target(url)
    cmd = [find_pg_program(name), *args, f"--dbname={target}"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise MarkitError(f"{what} failed ({name} exit {done.returncode}): {' '.join(detail[-3:])}")
