"""Fast, strict reading of small-schema CSV files into encoded columns.

Used by :mod:`markit_core.rewards.csv_input`. A file is parsed once by pyarrow when
it is installed (else pandas' C engine); string columns come back
dictionary-encoded (codes + a small array of distinct values) and numeric
columns as float arrays, so validation runs on the few distinct values or
as vectorised masks, never as a Python loop over rows. When the fast parse
fails, the file is re-read with pandas' C engine, whose errors carry line
numbers, so every problem is reported as ``FILE: line N: problem`` with the
header on line 1. Blank lines are skipped but keep their line numbers.
(A quoted field spanning several lines shifts the numbering; such fields do
not occur in these files.)
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from markit_core.errors import InputFileError

__all__ = ["Columns", "StringColumn", "read_columns"]


@dataclass(frozen=True, eq=False)
class StringColumn:
    """Dictionary-encoded text: ``uniques[codes]`` is the column (stripped)."""

    codes: np.ndarray
    uniques: np.ndarray


@dataclass(frozen=True, eq=False)
class Columns:
    """The parsed rows: ``lines[r]`` is row r's line number in the file."""

    name: str
    lines: np.ndarray
    strings: dict[str, StringColumn]
    numbers: dict[str, np.ndarray]

    def fail(self, row: int, problem: str) -> InputFileError:
        """An error naming this file and the line of ``row`` (0-based data row)."""
        return InputFileError(f"{self.name}: line {int(self.lines[row])}: {problem}")

    def first_row(self, mask: np.ndarray) -> int | None:
        """Index of the first True in ``mask``, or None."""
        hit = np.flatnonzero(mask)
        return int(hit[0]) if hit.size else None


def _error(name: str, line: int | str, problem: str) -> InputFileError:
    return InputFileError(f"{name}: line {line}: {problem}")


def _read_header(path: Path, name: str) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            first = f.readline()
    except FileNotFoundError as e:
        raise InputFileError(f"{name}: cannot read file: no such file") from e
    except UnicodeDecodeError as e:
        raise _error(name, 1, "not UTF-8 text") from e
    except OSError as e:
        raise InputFileError(f"{name}: cannot read file: {e.strerror or e}") from e
    if first == "":
        raise _error(name, 1, "file is empty (expected a header line)")
    header = [h.strip().lower() for h in next(csv.reader([first]))]
    if not any(header):
        raise _error(name, 1, "empty header line")
    seen: set[str] = set()
    for h in header:
        if h in seen:
            raise _error(name, 1, f"column {h!r} appears twice in the header")
        seen.add(h)
    return header


def _encode(values: np.ndarray) -> StringColumn:
    import pandas as pd

    codes, uniques = pd.factorize(values)
    return StringColumn(codes.astype(np.intp), np.asarray(uniques, dtype=object))


def _compact(codes: np.ndarray, uniques: np.ndarray) -> StringColumn:
    """Drop distinct values no row uses any more (after blank rows are removed)."""
    used = np.bincount(codes, minlength=uniques.size) > 0
    remap = np.cumsum(used) - 1
    return StringColumn(remap[codes].astype(np.intp), uniques[used])


def _arrow_values(arr: Any, dtype: type | np.dtype[Any]) -> np.ndarray:
    """Copy a primitive Arrow array into numpy, nulls as NaN (floats only)."""
    return _arrow_values_and_nulls(arr, dtype)[0]


def _arrow_values_and_nulls(arr: Any, dtype: type | np.dtype[Any]) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`_arrow_values`, with the mask of null (empty) cells."""
    n = len(arr)
    if n == 0:
        return np.empty(0, dtype=dtype), np.zeros(0, dtype=bool)
    validity, data = arr.buffers()[:2]
    out = np.frombuffer(data, dtype=dtype, count=n, offset=arr.offset * np.dtype(dtype).itemsize)
    out = out.copy()
    nulls = np.zeros(n, dtype=bool)
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        nulls = bits[arr.offset : arr.offset + n] == 0
        out[nulls] = np.nan
    return out, nulls


def _check_finite(name: str, column: str, values: np.ndarray, empty: np.ndarray) -> None:
    """Refuse a cell that parsed to NaN or +-inf (``NaN``, ``inf``, ``1e309``): only an
    empty cell means "no value"; a literal NaN is an error, not a missing value."""
    bad = np.flatnonzero(~empty & ~np.isfinite(values))
    if bad.size:
        raise _error(
            name, int(bad[0]) + 2, f"{column} {float(values[bad[0]])} is not a finite number"
        )


def _check_field_counts(path: Path, name: str, n_fields: int) -> None:
    """Refuse the first non-blank row with a missing or an extra field, by its line number.

    Run only when the fast parse failed (pandas pads short rows silently and
    shifts long ones into an index), so the Python loop costs nothing on good files.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, strict=True)
            next(reader, None)
            for row in reader:
                if row and len(row) != n_fields:
                    what = "missing" if len(row) < n_fields else "extra"
                    raise _error(
                        name,
                        reader.line_num,
                        f"expected {n_fields} fields, found {len(row)} ({what} field)",
                    )
    except (UnicodeDecodeError, csv.Error):
        return  # the pandas parse reports these with their own line numbers


def _read_fast(
    path: Path, header: list[str], strings: list[str], numbers: list[str]
) -> tuple[int, dict[str, StringColumn], dict[str, np.ndarray]] | None:
    """Parse with pyarrow; None when pyarrow is missing or the parse fails."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv
    except ImportError:
        return None
    types = {c: pa.string() for c in strings} | {c: pa.float64() for c in numbers}
    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pcsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                include_columns=strings + numbers,
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    # Arrow -> numpy through the buffers: Array.to_numpy() imports pandas in
    # recent pyarrow, which would add about a second to every CLI call.
    out_s: dict[str, StringColumn] = {}
    for c in strings:
        enc = pc.dictionary_encode(table.column(c)).combine_chunks()
        index_type = np.dtype(f"int{enc.indices.type.bit_width}")
        codes = _arrow_values(enc.indices, index_type).astype(np.intp)
        uniques = np.asarray(enc.dictionary.to_pylist(), dtype=object)
        out_s[c] = StringColumn(codes, uniques)
    out_n: dict[str, np.ndarray] = {}
    for c in numbers:
        values, nulls = _arrow_values_and_nulls(table.column(c).combine_chunks(), np.float64)
        _check_finite(str(path), c, values, nulls)
        out_n[c] = values
    return table.num_rows, out_s, out_n


def _read_slow(
    path: Path, name: str, header: list[str], strings: list[str], numbers: list[str]
) -> tuple[int, dict[str, StringColumn], dict[str, np.ndarray]]:
    """Parse with pandas' C engine, turning its errors into ``line N`` messages."""
    import pandas as pd

    _check_field_counts(path, name, len(header))
    try:
        df = pd.read_csv(
            path,
            engine="c",
            header=None,
            skiprows=1,
            names=header,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8",
        )
    except pd.errors.ParserError as e:
        msg = str(e).strip().splitlines()[-1]
        m = re.search(r"fields in line (\d+), saw (\d+)", msg)
        if m:
            raise _error(
                name, m.group(1), f"expected {len(header)} fields, found {m.group(2)}"
            ) from e
        m = re.search(r"starting at row (\d+)", msg)
        if m:
            raise _error(name, int(m.group(1)) + 1, "unterminated quoted field") from e
        raise InputFileError(f"{name}: cannot parse CSV: {msg}") from e
    except UnicodeDecodeError as e:
        raise InputFileError(f"{name}: not UTF-8 text") from e
    out_s = {c: _encode(df[c].to_numpy(dtype=object)) for c in strings}
    out_n: dict[str, np.ndarray] = {}
    for c in numbers:
        text = df[c].str.strip()
        num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        literal_nan = text.str.lower().isin(("nan",)).to_numpy()
        bad = np.isnan(num) & (text != "").to_numpy() & ~literal_nan
        hit = np.flatnonzero(bad)
        if hit.size:
            raise _error(name, int(hit[0]) + 2, f"{c} {text.iloc[hit[0]]!r} is not a number")
        _check_finite(name, c, np.where(literal_nan, np.nan, num), (text == "").to_numpy())
        out_n[c] = num
    return len(df), out_s, out_n


def read_columns(
    path: str | Path,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    numeric: frozenset[str] = frozenset(),
) -> Columns:
    """Read ``path`` keeping ``required`` and present ``optional`` columns.

    Header names are matched case-insensitively after stripping spaces;
    other columns are ignored. Columns in ``numeric`` become float arrays
    (NaN where empty); the rest are stripped text, dictionary-encoded.

    Raises
    ------
    InputFileError
        Unreadable or empty file, missing column, unparsable row, a
        non-numeric value in a numeric column, or no data row.
    """
    p = Path(path)
    name = str(path)
    header = _read_header(p, name)
    for c in required:
        if c not in header:
            have = ", ".join(h for h in header if h) or "nothing"
            raise _error(name, 1, f"missing column {c!r} (header has: {have})")
    wanted = list(required) + [c for c in optional if c in header]
    strings = [c for c in wanted if c not in numeric]
    numbers = [c for c in wanted if c in numeric]
    parsed = _read_fast(p, header, strings, numbers)
    if parsed is None:
        parsed = _read_slow(p, name, header, strings, numbers)
    n_rows, str_cols, num_cols = parsed

    # Strip text on the distinct values only, and merge values equal after stripping.
    for c, col in str_cols.items():
        stripped = np.asarray([u.strip() for u in col.uniques], dtype=object)
        uniques, remap = np.unique(stripped, return_inverse=True)
        str_cols[c] = StringColumn(remap.astype(np.intp)[col.codes], uniques.astype(object))

    blank = np.ones(n_rows, dtype=bool)
    for col in str_cols.values():
        empty_code = np.flatnonzero(col.uniques == "")
        blank &= np.isin(col.codes, empty_code)
    for arr in num_cols.values():
        blank &= np.isnan(arr)
    lines = np.arange(2, n_rows + 2)
    if blank.any():
        keep = ~blank
        lines = lines[keep]
        str_cols = {c: _compact(s.codes[keep], s.uniques) for c, s in str_cols.items()}
        num_cols = {c: a[keep] for c, a in num_cols.items()}
    if lines.size == 0:
        raise _error(name, 2, "no data rows after the header")
    return Columns(name=name, lines=lines, strings=str_cols, numbers=num_cols)
