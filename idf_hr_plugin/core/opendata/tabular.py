"""Reading messy CSV (and XLSX) tables: encoding and separator detection, title lines, columns by name."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..errors import UserInputError
from ..i18n import tr
from ._util import norm_text


@dataclass
class Table:
    """A table read from a file: header, rows (lists of strings), and how it was decoded."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    encoding: str
    separator: str
    skipped_lines: int = 0

    def column(self, aliases: Sequence[str]) -> int | None:
        """Index of the first header cell matching any alias (accent/case/punctuation-insensitive)."""
        return find_column(self.header, aliases)


def find_column(header: Sequence[str], aliases: Sequence[str]) -> int | None:
    normed = [norm_text(h) for h in header]
    for alias in aliases:
        a = norm_text(alias)
        if a in normed:
            return normed.index(a)
    return None


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode as UTF-8 (with or without BOM), falling back to Windows-1252; returns (text, encoding)."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def sniff_separator(lines: Sequence[str]) -> str:
    """The separator among ``;`` ``,`` tab ``|`` giving the most consistent column count."""
    best, best_score = ",", -1.0
    sample = [ln for ln in lines if ln.strip()][:50]
    for sep in (";", ",", "\t", "|"):
        counts = [len(next(csv.reader([ln], delimiter=sep))) for ln in sample]
        if not counts:
            continue
        wide = [c for c in counts if c > 1]
        if not wide:
            continue
        mode = max(set(wide), key=wide.count)
        score = wide.count(mode) * mode
        if score > best_score:
            best, best_score = sep, score
    return best


def read_table(
    path: str | os.PathLike[str],
    is_header: Callable[[list[str]], bool] | None = None,
    max_title_lines: int = 30,
) -> Table:
    """Read a CSV (or XLSX) file, skipping title lines until the header row is found.

    ``is_header`` decides whether a row is the header (default: the first row with at least two
    non-empty cells that is followed by rows of the same width).
    """
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raw_rows = _read_xlsx(path)
        encoding, sep = "xlsx", ""
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UserInputError(
                tr("{file} cannot be read ({error}): check the path and that the file is readable.").format(
                    file=path.name, error=exc.strerror or exc
                )
            ) from None
        if looks_binary(data):
            raise UserInputError(_not_text_message(path))
        text, encoding = decode_bytes(data)
        lines = text.splitlines()
        sep = sniff_separator(lines[: max_title_lines + 20])
        try:
            raw_rows = list(csv.reader(io.StringIO(text), delimiter=sep))
        except csv.Error:
            raise UserInputError(_not_text_message(path)) from None
    for i, row in enumerate(raw_rows[: max_title_lines + 1]):
        cells = [c.strip() for c in row]
        if is_header is not None:
            ok = is_header(cells)
        else:
            filled = [c for c in cells if c]
            ok = len(filled) >= 2 and len(filled) * 2 >= len(cells)
        if ok:
            width = len(cells)
            rows = [
                [c.strip() for c in r] + [""] * (width - len(r))
                for r in raw_rows[i + 1 :]
                if any(x.strip() for x in r)
            ]
            return Table(path, cells, rows, encoding, sep, skipped_lines=i)
    raise UserInputError(
        tr(
            "No header row was found in the first {n} lines of {file}. Check that it is the expected "
            "table (CSV separated by ',' or ';')."
        ).format(n=max_title_lines, file=path.name)
    )


def looks_binary(data: bytes, sample: int = 8192) -> bool:
    """True when the start of ``data`` holds NUL bytes or many control characters (not a text table)."""
    head = data[:sample]
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return controls > 0.05 * len(head)


def _not_text_message(path: Path) -> str:
    return tr(
        "{file} is not a CSV/XLSX text file (it holds binary data or unreadable lines): pick the table "
        "exported as CSV (',' or ';' separated) or XLSX."
    ).format(file=path.name)


def _read_xlsx(path: Path) -> list[list[str]]:
    try:
        import openpyxl  # type: ignore[import-not-found]
    except ImportError:
        raise UserInputError(
            tr(
                "Reading the Excel file {file} needs the Python package openpyxl, which is not installed. "
                "Save the sheet as CSV (UTF-8 or Windows-1252, ',' or ';') and load the CSV instead, or "
                "install openpyxl in the QGIS Python environment."
            ).format(file=path.name)
        ) from None
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        ws = wb.worksheets[0]
        out = [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
    except OSError as exc:
        raise UserInputError(
            tr("{file} cannot be read ({error}): check the path and that the file is readable.").format(
                file=path.name, error=exc.strerror or exc
            )
        ) from None
    except Exception:  # noqa: BLE001  (zipfile/openpyxl/XML errors of a damaged or non-XLSX file)
        raise UserInputError(
            tr(
                "{file} is not a readable XLSX workbook (damaged, or another format with an .xlsx name): "
                "open it in a spreadsheet and save it again as XLSX or CSV."
            ).format(file=path.name)
        ) from None
    return out


def missing_columns_message(file: str, missing: Mapping[str, Sequence[str]], header: Sequence[str]) -> str:
    """A user sentence listing which columns were not found, the names tried and the columns present."""
    parts = "; ".join(
        tr("{what} (looked for: {aliases})").format(what=what, aliases=", ".join(aliases))
        for what, aliases in missing.items()
    )
    return tr(
        "Some columns were not found in {file}: {parts}. Columns present: {present}. Rename the "
        "columns or add their names as aliases in the IdF HR settings."
    ).format(file=file, parts=parts, present=", ".join(h for h in header if h))


def require_columns(table, file: str, wanted: Sequence[tuple[int | None, str, Sequence[str]]]) -> None:
    """Raise :class:`UserInputError` naming every required column not found.

    ``wanted`` holds ``(column index or None, what it is, names tried)``.
    """
    missing = {what: aliases for index, what, aliases in wanted if index is None}
    if missing:
        raise UserInputError(missing_columns_message(file, missing, table.header))
