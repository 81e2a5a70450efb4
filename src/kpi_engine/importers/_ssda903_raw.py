"""The SSDA903's two forms read into the same raw tables: text columns named by the return's fields.

A CSV folder holds one file per table, found by its header row (authorities name the files as
they please: ``header.csv``, ``903_Episodes_2016.CSV``). The XML form holds one ``CHILD`` per
child; its elements are gathered into lists of values per field while streaming, and each table
becomes one DataFrame at the end. Every row keeps where it came from (``line 12`` of its file,
or its XML element path) for the messages.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from kpi_engine.importers._common import FILE, LOCATION, ImportFailure, sha256_of
from kpi_engine.importers._xml import Element, iter_elements, root_name

SIGNATURES: dict[str, tuple[str, ...]] = {
    "episodes": ("CHILD", "DECOM", "RNE", "LS"),
    "reviews": ("CHILD", "REVIEW", "REVIEW_CODE"),
    "missing": ("CHILD", "MIS_START"),
    "oc2": ("CHILD", "SDQ_SCORE"),
    "oc3": ("CHILD", "IN_TOUCH"),
    "ad1": ("CHILD", "DATE_INT"),
    "placed_adoption": ("CHILD", "DATE_PLACED"),
    "prev_perm": ("CHILD", "PREV_PERM"),
    "uasc": ("CHILD", "DUC"),
    "sw_episodes": ("CHILD", "SW_ID"),
    "header": ("CHILD", "SEX", "DOB", "ETHNIC"),
}
"""Each table's telling columns; the first table whose columns a header row holds is the file's."""

XML_ROOT = "EXPSSDA903"

_XML_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "episodes": (
        "EPISODE",
        ("DECOM", "RNE", "LS", "CIN", "PL", "PLACE_PROVIDER", "DEC", "REC", "REASON_PLACE_CHANGE"),
    ),
    "reviews": ("AREVIEW", ("REVIEW", "REVIEW_CODE")),
    "missing": ("MISSING", ("MISSING", "MIS_START", "MIS_END")),
    "oc3": ("OC3", ("DOB", "IN_TOUCH", "ACTIV", "ACCOM")),
    "ad1": ("AD1", ("DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR")),
    "placed_adoption": ("PLACED_ADOPTION", ("DATE_PLACED", "DATE_PLACED_CEASED")),
}
"""Per raw table: the XML element holding one record, and the fields read from it."""

FROM_HEADER = ("DOB",)
"""Fields the XML form writes once per child, in HEADER, where the CSV form repeats them in
each table's rows (OC3's DOB): a record without its own takes the child's."""


def read_raw(path: Path) -> tuple[dict[str, pd.DataFrame], str]:
    """The raw tables of the return at ``path`` (a CSV folder or the XML file) and its hash."""
    if path.is_dir():
        return _read_folder(path)
    if path.suffix.lower() == ".xml":
        return _read_xml(path), sha256_of([path])
    if not path.exists():
        raise ImportFailure(f"{path}: no such file or folder")
    raise ImportFailure(
        f"{path}: not an SSDA903 return (expected a folder of the CSV tables or the XML file)"
    )


# --- CSV ------------------------------------------------------------------------------------------


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # spreadsheets on Windows


def _table_of(columns: set[str]) -> str | None:
    return next((t for t, need in SIGNATURES.items() if set(need) <= columns), None)


def _read_csv(path: Path, text: str) -> pd.DataFrame:
    try:
        # every value as text, blank lines kept so that row n is physical line n + 2
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except pd.errors.ParserError as e:
        raise ImportFailure(f"{path}: cannot be read as CSV ({e})") from None
    frame.columns = [str(c).strip().upper() for c in frame.columns]
    frame[LOCATION] = [f"line {n}" for n in range(2, len(frame) + 2)]
    blank = (frame.drop(columns=LOCATION).apply(lambda s: s.str.strip()) == "").all(axis=1)
    frame = frame[~blank].reset_index(drop=True)
    frame[FILE] = str(path)
    return pd.DataFrame(frame)


def _read_folder(folder: Path) -> tuple[dict[str, pd.DataFrame], str]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    tables: dict[str, pd.DataFrame] = {}
    found: dict[str, Path] = {}
    for path in files:
        text = _decode(path)
        first = text.splitlines()[0] if text.strip() else ""
        columns = {c.strip().strip('"').upper() for c in first.split(",")}
        table = _table_of(columns)
        if table is None:
            continue
        if table in found:
            raise ImportFailure(
                f"{path}: a second {table} table in the return (the first is {found[table].name})"
            )
        found[table] = path
        tables[table] = _read_csv(path, text)
    if not tables:
        names = ", ".join(p.name for p in files) or "no CSV files"
        raise ImportFailure(
            f"{folder}: not an SSDA903 return (no file has the header row of a 903 table: {names})"
        )
    return tables, sha256_of(files)


# --- XML ------------------------------------------------------------------------------------------


def _read_xml(path: Path) -> dict[str, pd.DataFrame]:
    root = root_name(path)
    if root != XML_ROOT:
        raise ImportFailure(
            f"{path}: not an SSDA903 return (root element {root!r}; expected {XML_ROOT!r})"
        )
    header_fields = ("CHILDID", "SEX", "DOB", "ETHNIC", "UPN")
    columns: dict[str, dict[str, list[str]]] = {
        "header": {f: [] for f in (*header_fields, LOCATION)},
        **{t: {f: [] for f in ("CHILD", *fs, LOCATION)} for t, (_, fs) in _XML_FIELDS.items()},
    }
    for where, child in iter_elements(path, "CHILD"):
        header = child.find("HEADER")
        texts = {c.tag: c.text for c in (header if header is not None else child)}
        values = columns["header"]
        for name in header_fields:
            values[name].append(texts.get(name) or "")
        values[LOCATION].append(where)
        inherited = {name: texts.get(name) or "" for name in FROM_HEADER}
        _gather(child, values["CHILDID"][-1].strip(), where, columns, inherited)
    tables = {}
    for table, values in columns.items():
        frame = pd.DataFrame(values)
        if table == "header":
            frame = frame.rename(columns={"CHILDID": "CHILD"})
        if table == "episodes":
            frame = frame.rename(columns={"PL": "PLACE"})
        frame[FILE] = str(path)
        tables[table] = frame
    return tables


_BY_TAG = {tag: (table, fields) for table, (tag, fields) in _XML_FIELDS.items()}


def _gather(
    child: Element,
    child_id: str,
    where: str,
    columns: dict[str, dict[str, list[str]]],
    inherited: dict[str, str],
) -> None:
    """Append the child's records of each table (anywhere under ``CHILD``) to the lists.

    A field in ``FROM_HEADER`` the record lacks is the ``inherited`` value (the HEADER's).

    One walk over the child's elements; each record's fields are looked up in one dict of its
    children's texts (values are trimmed later, a column at a time).
    """
    counts: dict[str, int] = {}
    for element in child.iter():
        found = _BY_TAG.get(element.tag)
        if found is None:
            continue
        texts = {c.tag: c.text for c in element}
        if element.tag == "MISSING" and "MIS_START" not in texts:
            continue  # the MISSING code inside a MISSING record
        table, fields = found
        number = counts[element.tag] = counts.get(element.tag, 0) + 1
        values = columns[table]
        values["CHILD"].append(child_id)
        for name in fields:
            values[name].append(texts.get(name) or inherited.get(name, ""))
        values[LOCATION].append(f"{where}/{element.tag}[{number}]")
