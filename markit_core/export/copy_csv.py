"""The readings CSV on PostgreSQL: formatted by the server, streamed with ``COPY ... TO STDOUT``.

The Python writer (:func:`markit_core.export.tables.write_readings_csv` on other databases)
costs tens of microseconds a row on PostgreSQL, ten minutes for 10^7 answers. Here the
server builds every CSV line itself, byte for byte what the Python writer writes:

* numbers as Python's ``repr`` (PostgreSQL's shortest float text, with ``.0`` added to
  integral values, ``nan`` / ``inf``, and positional notation for exponent 15, where
  PostgreSQL switches to ``e+15`` one power earlier than Python);
* times as ``datetime.isoformat()`` of the UTC value; booleans ``true`` / ``false``;
* text cells (case, label and reader names) neutralised as
  :func:`~markit_core.export.spreadsheet.safe_cell` does, quoted as the csv module quotes
  (``,`` ``"`` or a newline), and every cell of a row quoted when one holds a ``\\r``.

The cells of an annotation (case, reader, timings) are formatted once per annotation,
not once per answer. Lines come grouped per case (one ``COPY`` row of a case's lines, its
row count and its annotation ids) in binary COPY format, so Python handles one message
per case and writes the bytes as they arrive: memory stays bounded by one case.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlmodel import Session

__all__ = ["READINGS_COPY_SQL", "binary_copy_rows", "copy_readings_csv", "copy_supported"]

_PREFIXES = "('=', '+', '-', '@', E'\\t', E'\\r')"


def _neutral(text: str) -> str:
    """SQL of ``safe_cell(text)``: a leading quote before a formula's first character."""
    return f"(CASE WHEN left({text}, 1) IN {_PREFIXES} THEN '''' || {text} ELSE {text} END)"


def _quoted(cell: str) -> str:
    return f"""('"' || replace({cell}, '"', '""') || '"')"""


def _minimal(cell: str) -> str:
    """SQL of the csv module's QUOTE_MINIMAL with ``\\n`` line ends: quote on , " or \\n."""
    return f"(CASE WHEN {cell} ~ '[,\"\\n]' THEN {_quoted(cell)} ELSE {cell} END)"


def _float(x: str) -> str:
    """SQL text of a float8 as Python's ``repr`` (empty for NULL); ``extra_float_digits``
    >= 1 (the default since PostgreSQL 12, set for the COPY) gives the shortest digits."""
    mantissa = f"split_part({x}::text, 'e', 1)"
    digits = f"replace(ltrim({mantissa}, '-'), '.', '')"
    exponent15 = (  # [1e15, 1e16): PostgreSQL writes d.ddde+15, Python positional digits
        f"(CASE WHEN {x} < 0 THEN '-' ELSE '' END) || rpad(left({digits}, 16), 16, '0') || '.'"
        f" || (CASE WHEN length({digits}) > 16 THEN substr({digits}, 17) ELSE '0' END)"
    )
    return (
        f"(CASE WHEN {x} IS NULL THEN ''"
        f" WHEN abs({x}) < 1e15 THEN (CASE WHEN {x} = trunc({x}) THEN {x}::text || '.0'"
        f" ELSE {x}::text END)"
        f" WHEN {x} = 'NaN'::float8 THEN 'nan'"
        f" WHEN {x} = 'Infinity'::float8 THEN 'inf'"
        f" WHEN {x} = '-Infinity'::float8 THEN '-inf'"
        f" WHEN abs({x}) < 9007199254740992 THEN {exponent15}"
        f" ELSE {_big_float(x)} END)"
    )


def _big_float(x: str) -> str:
    """SQL of ``repr`` for a finite float8 of magnitude >= 2^53 (an integer).

    There PostgreSQL's shortest digits can be one longer than Python's: Python also takes a
    decimal lying exactly half-way to the next float (it reads back as this one, the even
    mantissa), which PostgreSQL never does. So: the exact integer, then the fewest leading
    digits that read back as ``x`` (the nearer of the two candidates), in ``repr``'s format
    (positional below 1e16, else ``d.ddde+XX``).
    """
    exact = (  # x / 2^k is exact and fits int8; times 2^k in numeric is the exact integer
        f"(SELECT trunc((abs({x}) / 2 ^ k)::int8::numeric * power(2::numeric, k)) AS v"
        f" FROM (SELECT greatest(floor(ln(abs({x})) / ln(2))::int - 54, 0) AS k) AS s)"
    )
    best = (
        "(SELECT d.c FROM generate_series(1, 17) AS n,"
        " LATERAL (VALUES (trunc(e.v, n - length(e.v::text))),"
        " (trunc(e.v, n - length(e.v::text)) + power(10::numeric, length(e.v::text) - n)))"
        " AS d(c) WHERE CASE WHEN d.c > 9007199254740991 * power(2::numeric, 971) THEN false"
        f" ELSE (CASE WHEN {x} < 0 THEN -d.c ELSE d.c END)::float8 = {x} END"
        " ORDER BY n, abs(d.c - e.v) LIMIT 1)"
    )
    sign = f"(CASE WHEN {x} < 0 THEN '-' ELSE '' END)"
    return (
        f"(SELECT CASE WHEN length(b.t) < 17 THEN {sign} || b.t || '.0'"
        f" ELSE {sign} || left(rtrim(b.t, '0'), 1) || (CASE WHEN length(rtrim(b.t, '0')) > 1"
        f" THEN '.' || substr(rtrim(b.t, '0'), 2) ELSE '' END)"
        f" || 'e+' || to_char(length(b.t) - 1, 'FM900') END"
        f" FROM (SELECT trunc({best})::text AS t FROM {exact} AS e) AS b)"
    )


def _iso(ts: str) -> str:
    """SQL of ``iso_time``: ``datetime.isoformat()`` of the UTC value."""
    utc = f"({ts} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || (CASE WHEN to_char({utc}, 'US')"
        f" = '000000' THEN '' ELSE '.' || to_char({utc}, 'US') END) || '+00:00')"
    )


def _bool(b: str) -> str:
    return f"(CASE WHEN {b} THEN 'true' ELSE 'false' END)"


def _cells(cells: Iterable[str], *, text: Iterable[int] = ()) -> tuple[str, str]:
    """Both forms of a run of cells, each followed by a comma: QUOTE_MINIMAL and QUOTE_ALL.

    ``cells``: SQL text expressions; ``text``: positions of cells a user typed (quoted if
    needed); the others are numbers or MarkIt's words, which never need quoting.
    """
    text_at = set(text)
    minimal, every = [], []
    for i, cell in enumerate(cells):
        minimal.append(_minimal(cell) if i in text_at else cell)
        every.append(_quoted(cell) if i in text_at else f"""('"' || {cell} || '"')""")
    return " || ',' || ".join(minimal) + " || ','", " || ',' || ".join(every) + " || ','"


def _has_cr(*texts: str) -> str:
    return "(" + " OR ".join(f"strpos({t}, E'\\r') > 0" for t in texts) + ")"


def _readings_sql() -> str:
    case_name = _neutral("coalesce(c.original_name, '')")
    reader = _neutral("u.username")
    head, head_q = _cells(["a.case_id::text", case_name], text=[1])
    mid, mid_q = _cells([reader, "a.id::text", "a.version::text"], text=[0])
    tail, tail_q = _cells(
        [_float(f"a.{c}") for c in ("total_seconds", "active_seconds", "idle_seconds")]
        + [_iso("a.submitted_at"), "'human'"]
    )
    label, label_q = _cells(["l.id::text", _neutral("l.name")], text=[1])
    ai_reader = _neutral("x.model_name || '@' || x.version")
    ai_head, ai_head_q = _cells(["x.case_id::text", case_name], text=[1])
    ai_mid, ai_mid_q = _cells([ai_reader, "''", "'1'"], text=[0])
    ai_value, ai_value_q = _cells([_bool("x.value"), "''", "''", "'0.0'", "'0.0'", "'0.0'"])
    ai_tail, ai_tail_q = _cells([_iso("x.at"), "'ai'"])
    value = [_bool("v.value"), "coalesce(v.confidence::text, '')", _float("v.seconds")]
    value_q = _cells(value)[1]
    visible = _bool("coalesce(e.suggestion_visible, false)")
    # the common line in as few || as possible (concat() is slower: a call per argument)
    line = (
        "r.head || l.cells || r.mid || (CASE WHEN v.value THEN 'true,' ELSE 'false,' END)"
        f" || coalesce(v.confidence::text || ',', ',') || {_float('v.seconds')} || ',' || r.tail"
        " || (CASE WHEN e.suggestion_visible THEN E'true\\n' ELSE E'false\\n' END)"
    )
    return f"""
WITH labels AS MATERIALIZED (
    SELECT l.id, row_number() OVER (ORDER BY l."order", l.name COLLATE "C") AS rank,
           {_has_cr("l.name")} AS cr,
           {label} AS cells, {label_q} AS cells_q
    FROM label_def l WHERE l.project_id = %(project)s
)
SELECT g.n, g.lines, g.ids, g.ai_ids
FROM "case" c CROSS JOIN LATERAL (
    SELECT count(*)::int8 AS n,
           string_agg(line, '' ORDER BY rank, reader COLLATE "C", source) AS lines,
           string_agg(annotation_id::text, ',') FILTER (WHERE first) AS ids,
           string_agg(ai_label_id::text, ',') AS ai_ids
    FROM (
        SELECT l.rank, r.reader, 0 AS source, r.id AS annotation_id, NULL::int AS ai_label_id,
               v.label_id = r.first_label AS first,
               CASE WHEN r.cr OR l.cr
               THEN r.head_q || l.cells_q || r.mid_q || {value_q} || r.tail_q
                    || '"' || {visible} || '"' || E'\\n'
               ELSE {line} END AS line
        FROM (  -- the case's current readings, their cells formatted once (OFFSET 0: kept apart)
            SELECT a.id, u.username AS reader, {_has_cr("c.original_name", "u.username")} AS cr,
                   (SELECT min(w.label_id) FROM annotation_value w
                    WHERE w.annotation_id = a.id AND w.value IS NOT NULL) AS first_label,
                   {head} AS head, {head_q} AS head_q, {mid} AS mid, {mid_q} AS mid_q,
                   {tail} AS tail, {tail_q} AS tail_q
            FROM annotation a JOIN user_account u ON u.id = a.annotator_id
            WHERE a.case_id = c.id AND a.project_id = %(project)s AND NOT a.deleted
            AND NOT EXISTS (
                SELECT 1 FROM annotation n WHERE n.case_id = a.case_id
                AND n.annotator_id = a.annotator_id AND n.version > a.version)
            OFFSET 0
        ) r
        JOIN annotation_value v ON v.annotation_id = r.id
        JOIN labels l ON l.id = v.label_id
        LEFT JOIN annotation_exposure e ON e.annotation_id = r.id AND e.label_id = v.label_id
        WHERE v.value IS NOT NULL
        UNION ALL
        SELECT l.rank, x.model_name || '@' || x.version, 1, NULL, x.id, false,
               CASE WHEN l.cr OR {_has_cr("c.original_name", "x.model_name", "x.version")}
               THEN {ai_head_q} || l.cells_q || {ai_mid_q} || {ai_value_q} || {ai_tail_q}
                    || '"false"'
               ELSE {ai_head} || l.cells || {ai_mid} || {ai_value} || {ai_tail} || 'false' END
               || E'\\n'
        FROM ai_label x JOIN labels l ON l.id = x.label_id
        WHERE x.case_id = c.id AND x.project_id = %(project)s
    ) lines
) g
WHERE c.project_id = %(project)s
ORDER BY c.id
"""


#: The query behind :func:`copy_readings_csv` (parameter ``project``); one row per case of
#: the project: its row count, its CSV lines, its annotation ids and its AI label ids
#: (comma-separated; NULL where the case has none).
READINGS_COPY_SQL = _readings_sql()

_HEADER = b"PGCOPY\n\xff\r\n\x00"
_I16, _I32 = struct.Struct("!h"), struct.Struct("!i")


def binary_copy_rows(chunks: Iterable[bytes | memoryview]) -> Iterator[list[bytes | None]]:
    """Rows of a binary-format COPY stream (``None`` for NULL), whatever its chunking.

    Parses PostgreSQL's documented format (signature, flags, header extension, then per
    row a field count and length-prefixed fields, ending with a count of -1); a stream
    that ends early or does not start with the signature raises ``ValueError``.
    """
    buf = bytearray()
    pos, started = 0, False
    stream = iter(chunks)
    for chunk in stream:
        buf += chunk
        if not started:
            if len(buf) >= 11 and bytes(buf[:11]) != _HEADER:
                raise ValueError("not a binary COPY stream (bad signature)")
            if len(buf) < 19 or len(buf) < 19 + _I32.unpack_from(buf, 15)[0]:
                continue  # the header (and its extension) not complete yet
            pos, started = 19 + _I32.unpack_from(buf, 15)[0], True
        while True:
            row, end = _one_row(buf, pos)
            if end < 0:
                break
            if row is None:  # the trailer: read the stream to its end (the driver needs it)
                if len(buf) > end or any(len(rest) for rest in stream):
                    raise ValueError("binary COPY stream has data after its trailer")
                return
            yield row
            pos = end
        del buf[:pos]
        pos = 0
    raise ValueError("binary COPY stream ended before its trailer")


def _one_row(buf: bytearray, pos: int) -> tuple[list[bytes | None] | None, int]:
    """The row at ``pos`` and where it ends; end -1 if incomplete, row None at the trailer."""
    if len(buf) < pos + 2:
        return None, -1
    (count,) = _I16.unpack_from(buf, pos)
    if count == -1:
        return None, pos + 2
    at = pos + 2
    fields: list[bytes | None] = []
    for _ in range(count):
        if len(buf) < at + 4:
            return None, -1
        (size,) = _I32.unpack_from(buf, at)
        at += 4
        if size < 0:
            fields.append(None)
            continue
        if len(buf) < at + size:
            return None, -1
        fields.append(bytes(buf[at : at + size]))
        at += size
    return fields, at


def _driver(session: Session) -> Any:
    return session.connection().connection.dbapi_connection


def copy_supported(session: Session) -> bool:
    """Whether the session's connection is psycopg 3 on PostgreSQL with UTF-8 text."""
    conn = session.connection()
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return False
    dbapi = _driver(session)
    return dbapi is not None and str(dbapi.info.encoding).replace("-", "").lower() == "utf8"


def _ids(field: bytes | None) -> Iterator[int]:
    return iter(()) if not field else map(int, field.split(b","))


def copy_readings_csv(
    session: Session,
    project_id: int,
    path: Path,
    header: str,
    progress: Callable[[int, int, str], None],
) -> tuple[int, set[int], set[int]]:
    """Write ``header`` and every reading line of the project into ``path`` via COPY.

    Returns the row count, the annotation ids and the AI label ids of the rows. Runs in
    the session's transaction (one snapshot for the whole file). Progress counts cases
    (``readings (cases)``): their number is known at once, while counting the rows first
    would cost a tenth of the export on a large project.
    """
    rows, done = 0, 0
    annotation_ids: set[int] = set()
    ai_label_ids: set[int] = set()
    cursor = _driver(session).cursor()
    try:
        # shortest float text; no JIT (compiling the per-case subplans costs more than it saves)
        cursor.execute(
            "SELECT set_config('extra_float_digits', '1', true), set_config('jit', 'off', true)"
        )
        cursor.execute('SELECT count(*) FROM "case" WHERE project_id = %s', (project_id,))
        (total,) = cursor.fetchone() or (0,)
        sql = f"COPY ({READINGS_COPY_SQL}) TO STDOUT (FORMAT binary)"
        with open(path, "wb") as f, cursor.copy(sql, {"project": project_id}) as copy:
            f.write(header.encode("utf-8"))
            for count, lines, ids, ai_ids in binary_copy_rows(copy):
                done += 1
                if lines:
                    f.write(lines)
                rows += int.from_bytes(count or b"", "big", signed=True)
                annotation_ids.update(_ids(ids))
                ai_label_ids.update(_ids(ai_ids))
                if done % 1000 == 0:
                    progress(done, total, _CASES)
    finally:
        cursor.close()
    progress(done, done, _CASES)
    return rows, annotation_ids, ai_label_ids


_CASES = "readings (cases)"
