"""One year's children in need census (the CIN census XML), read into the extract's tables.

The census is one XML file a year: ``Message`` › ``Header`` (collection, year, the authority's
LEA code) and ``Children`` › ``Child``, each child with its ``CINdetails``, one per referral,
holding that referral's assessments, CIN plans and child protection plans. The file streams
past one ``Child`` at a time (``_xml.iter_elements``); each record's text goes into plain lists,
and each table is then built once and checked and mapped a whole column at a time.

The census carries no record ids, so they are derived from what identifies a record in it: a
referral is its child and ``CINreferralDate`` (``C123/2015-06-01``), an assessment its child and
``AssessmentActualStartDate``, a CIN plan its child and ``CINPlanStartDate``, a CP plan its
child and ``CPPstartDate``. The same record gets the same id in every year's file, which is how
:func:`~kpi_engine.importers.import_returns` recognises one referral repeated across years.

Elements are found by name, wherever they stand among their siblings (files are not always in
schema order); an empty element means no value, as a missing one does. A value that cannot
enter the extract rejects its record, located by its element path
(``/Message/Children/Child[3]/CINdetails[1]/Assessments[1]``), with the element and the value.
See docs/import-cin-census.md for the element-by-element mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kpi_engine.importers import _xml
from kpi_engine.importers._common import (
    FILE,
    LOCATION,
    ImportFailure,
    Rejection,
    ReturnRead,
    date_reason,
    parse_dates,
    reject_rows,
    sha256_of,
    year_end,
)

DATE_FORMATS = ("%Y-%m-%d",)
SEX = {"1": "M", "2": "F", "0": "U", "9": "U"}
"""Sex (to 2022) and GenderCurrent (from 2023): 1 male, 2 female, 0 not known, 9 not stated."""
REFERRAL_NFA = {"true": "nfa", "1": "nfa", "false": "assessment", "0": "assessment"}
"""ReferralNFA: a referral that went no further is ``nfa``; one that did went to assessment."""
ABUSE = {
    "NEG": "neglect",
    "PHY": "physical",
    "EMO": "emotional",
    "SAB": "sexual",
    "MUL": "multiple",
}
NO_DISABILITY = "NONE"

_CHILD = ("location", "id", "born", "expected", "sex", "gender", "ethnicity", "disabilities")
_REFERRAL = ("child", "position", "date", "source", "closed", "nfa")
_RECORD = ("referral", "position", "start", "end", "initial", "latest")
_NUMBERS = ("child", "referral", "position")
"""Raw columns holding numbers: which child or referral a record belongs to, and its place
among its siblings of the same name (``CINdetails[2]``), from which element paths are built."""
_RECORDS = {
    # table: (element, start element, end element)
    "assessments": ("Assessments", "AssessmentActualStartDate", "AssessmentAuthorisationDate"),
    "cin_plans": ("CINPlanDates", "CINPlanStartDate", "CINPlanEndDate"),
    "cp_plans": ("ChildProtectionPlans", "CPPstartDate", "CPPendDate"),
}
_KEYS = {"assessments": "assessment_id", "cin_plans": "cin_plan_id", "cp_plans": "cp_plan_id"}
_END_COLUMN = {"assessments": "completed_date", "cin_plans": "end_date", "cp_plans": "end_date"}


class _Columns:
    """The raw text of one kind of record, column by column, as the file streams past."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.rows: list[tuple[object, ...]] = []  # a tuple a record: the cheapest append

    def add(self, *values: object) -> None:
        self.rows.append(values)

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self) -> pd.DataFrame:
        """The records as one DataFrame: text as Arrow strings (compact: a national census is
        millions of values), numbers as integers. The tuples are let go."""
        columns = list(zip(*self.rows, strict=True)) or [() for _ in self.names]
        self.rows = []
        return pd.DataFrame(
            {
                name: pd.Series(values, dtype="int64" if name in _NUMBERS else "str")
                for name, values in zip(self.names, columns, strict=True)
            }
        )


def _text(element: _xml.Element, name: str) -> str:
    """``_xml.child_text`` with the element tree's own (C) lookup: the hot path of a read."""
    text = element.findtext(name)
    return text.strip() if text else ""


def _first(places: Iterable[_xml.Element | None], name: str) -> str:
    """The first non-empty text of a child called ``name`` among ``places``."""
    for place in places:
        if place is not None and (text := _text(place, name)):
            return text
    return ""


def _header(path: Path) -> tuple[int, pd.Timestamp, str | None]:
    """The census's collection year, reference date and LEA, or one clear failure."""
    root = _xml.root_name(path)
    if root != "Message":
        hint = " (an SSDA903 XML file: use kpi import ssda903)" if root == "EXPSSDA903" else ""
        raise ImportFailure(
            f"{path}: not a children in need census: its root element is <{root}>, a census "
            f"starts <Message>{hint}"
        )
    # only the first Header is wanted: the stream is dropped (and closed) after it
    first = next(iter(_xml.iter_elements(path, "Header")), None)
    if first is None:
        raise ImportFailure(f"{path}: not a children in need census: no Message/Header")
    where, header = first
    details, source = header.find("CollectionDetails"), header.find("Source")
    collection = _first([details], "Collection")
    year_text = _first([details], "Year")
    reference_text = _first([details], "ReferenceDate")
    authority = _first([source], "LEA") or None
    if collection.upper() != "CIN":
        raise ImportFailure(
            f"{path}: not a children in need census: {where}/CollectionDetails/Collection is "
            f"{collection!r}, a census says 'CIN'"
        )
    reference, _ = parse_dates(pd.Series([reference_text]), DATE_FORMATS)
    if year_text.isdigit() and len(year_text) == 4:
        year = int(year_text)
    elif pd.notna(reference.iloc[0]):
        year = reference.iloc[0].year
    else:
        raise ImportFailure(
            f"{path}: cannot tell the collection year: {where}/CollectionDetails has Year "
            f"{year_text!r} and ReferenceDate {reference_text!r}"
        )
    on = reference.iloc[0] if pd.notna(reference.iloc[0]) else year_end(year)
    return year, pd.Timestamp(on), authority


def _stream(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every child, referral and record of the file as raw text, in file order."""
    children, referrals = _Columns(_CHILD), _Columns(_REFERRAL)
    records = {table: _Columns(_RECORD) for table in _RECORDS}
    for location, child in _xml.iter_elements(path, "Child"):
        places = [child.find("ChildIdentifiers"), child.find("ChildCharacteristics"), child]
        disabilities = [
            d.text.strip() for d in child.iter("Disability") if d.text and d.text.strip()
        ]
        children.add(
            location,
            *(_first(places, name) for name in
              ("LAchildID", "PersonBirthDate", "ExpectedPersonBirthDate", "Sex", "GenderCurrent",
               "Ethnicity")),
            " ".join(disabilities),
        )  # fmt: skip
        for k, details in enumerate(child.findall("CINdetails"), start=1):
            referrals.add(
                len(children) - 1,
                k,
                *(_text(details, name) for name in
                  ("CINreferralDate", "ReferralSource", "CINclosureDate", "ReferralNFA")),
            )  # fmt: skip
            for table, (element, start, end) in _RECORDS.items():
                for j, record in enumerate(details.findall(element), start=1):
                    records[table].add(
                        len(referrals) - 1,
                        j,
                        _text(record, start),
                        _text(record, end),
                        _text(record, "InitialCategoryOfAbuse"),
                        _text(record, "LatestCategoryOfAbuse"),
                    )
    return _located(children.frame(), referrals.frame(), {t: c.frame() for t, c in records.items()})


def _located(
    children: pd.DataFrame, referrals: pd.DataFrame, records: dict[str, pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Each referral's and record's element path, built a whole column at a time from its
    parent's path and its position (``.../Child[3]/CINdetails[2]/Assessments[1]``)."""

    def under(parents: pd.Series, at: pd.Series, element: str, position: pd.Series) -> pd.Series:
        prefix = parents.iloc[at.to_numpy()].reset_index(drop=True)
        return prefix + f"/{element}[" + position.astype("str") + "]"

    referrals["location"] = under(
        children["location"], referrals["child"], "CINdetails", referrals["position"]
    )
    for table, frame in records.items():
        element = _RECORDS[table][0]
        frame["location"] = under(
            referrals["location"], frame["referral"], element, frame["position"]
        )
    return children, referrals, records


class _Checks:
    """The rejections of one file, and the checks that make them, a whole column at a time."""

    def __init__(self, path: Path, reference: pd.Timestamp) -> None:
        self.file = str(path)
        self.reference = reference
        self.rejections: list[Rejection] = []

    def reject(
        self,
        table: str,
        frame: pd.DataFrame,
        field: str,
        values: pd.Series,
        mask: pd.Series | np.ndarray,
        reason: str | pd.Series,
    ) -> np.ndarray:
        hits = np.array(mask, dtype=bool)  # a copy: callers combine masks in place
        self.rejections += reject_rows(
            table, self.file, frame["location"], field, values, hits, reason
        )
        return hits

    def dates(
        self,
        table: str,
        frame: pd.DataFrame,
        column: str,
        element: str,
        *,
        required: bool = False,
        future: bool = False,
    ) -> tuple[pd.Series, np.ndarray]:
        """``column`` read as ISO dates; the rows whose value cannot enter the extract."""
        raw = frame[column]
        dates, unreadable = parse_dates(raw, DATE_FORMATS)
        bad = self.reject(table, frame, element, raw, unreadable, date_reason(DATE_FORMATS))
        if required:
            missing = (raw.fillna("") == "").to_numpy()
            bad |= self.reject(table, frame, element, raw, missing, "missing (required)")
        if not future:
            late = (dates > self.reference).to_numpy()
            why = f"in the future (after the census reference date, {self.reference:%Y-%m-%d})"
            bad |= self.reject(table, frame, element, raw, late, why)
        return dates, bad

    def before(
        self,
        table: str,
        frame: pd.DataFrame,
        start: pd.Series,
        end: pd.Series,
        elements: tuple[str, str],
        what: str,
    ) -> np.ndarray:
        """Rows whose end comes before their start: the record cannot be true as it stands."""
        hits = (end < start).to_numpy()
        reason = f"{what} before it started ({elements[0]} " + start.dt.strftime("%Y-%m-%d") + ")"
        return self.reject(table, frame, elements[1], frame["end"], hits, reason)


def _texts(series: pd.Series) -> pd.Series:
    """Text with empty values as missing."""
    return pd.Series(series.mask(series.fillna("") == ""))


def _ids(child: pd.Series, dates: pd.Series) -> pd.Series:
    return pd.Series(child + "/" + dates.dt.strftime("%Y-%m-%d"))


def _own(path: Path, raw: pd.DataFrame, out: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    out[FILE] = str(path)
    out[LOCATION] = raw["location"].to_numpy()
    return out[keep].reset_index(drop=True)


def _children(path: Path, raw: pd.DataFrame, checks: _Checks) -> pd.DataFrame:
    name = "children"
    anonymous = (raw["id"] == "").to_numpy()
    bad = checks.reject(name, raw, "LAchildID", raw["id"], anonymous, "missing: no child id")
    born, bad_born = checks.dates(name, raw, "born", "PersonBirthDate")
    # an unborn child's referral carries only the expected date, which may be after 31 March
    expected, bad_expected = checks.dates(name, raw, "expected", "ExpectedPersonBirthDate",
                                          future=True)  # fmt: skip
    bad |= bad_born | (bad_expected & born.isna().to_numpy())
    dob = born.fillna(expected)
    no_date = (dob.isna().to_numpy()) & ~bad
    bad |= checks.reject(name, raw, "PersonBirthDate", raw["born"], no_date,
                         "missing (nor an ExpectedPersonBirthDate)")  # fmt: skip
    # GenderCurrent replaced Sex in the 2023 census; a file may carry either
    field = np.where(raw["gender"] != "", "GenderCurrent", "Sex")
    code = raw["gender"].where(raw["gender"] != "", raw["sex"])
    sex = code.map(SEX)
    for element in ("Sex", "GenderCurrent"):
        mine = field == element
        bad |= checks.reject(name, raw, element, code, mine & (code == "").to_numpy(),
                             "missing (required)")  # fmt: skip
        wrong = mine & sex.isna().to_numpy() & (code != "").to_numpy()
        why = "not a sex code (expected 1 male, 2 female, 0 not known, 9 not stated)"
        bad |= checks.reject(name, raw, element, code, wrong, why)
    # any Disability code but NONE means disabled; no Disability element at all: not known
    codes = raw["disabilities"]
    named = codes.str.replace(rf"\b{NO_DISABILITY}\b", "", regex=True).str.strip() != ""
    disabled = pd.Series(named.to_numpy(dtype=bool), dtype="boolean").mask((codes == "").to_numpy())
    out = pd.DataFrame(
        {
            "child_id": raw["id"],
            "date_of_birth": dob,
            "sex": sex,
            "ethnicity": _texts(raw["ethnicity"]),
            "disabled": disabled,
        }
    )
    return _own(path, raw, out, ~bad)


def _referrals(
    path: Path, raw: pd.DataFrame, child_ids: pd.Series, checks: _Checks
) -> tuple[pd.DataFrame, pd.Series]:
    """The referrals kept, and each raw referral's id (None where it was rejected)."""
    name = "referrals"
    child = child_ids.iloc[raw["child"].to_numpy()].reset_index(drop=True)
    bad = checks.reject(name, raw, "LAchildID", child, (child == "").to_numpy(),
                        "the child has no LAchildID")  # fmt: skip
    date, bad_date = checks.dates(name, raw, "date", "CINreferralDate", required=True)
    closed, bad_closed = checks.dates(name, raw, "closed", "CINclosureDate")
    bad |= bad_date | bad_closed
    raw = raw.assign(end=raw["closed"])
    bad |= checks.before(name, raw, date, closed, ("CINreferralDate", "CINclosureDate"),
                         "closed")  # fmt: skip
    flag = raw["nfa"].str.strip().str.lower()
    outcome = flag.map(REFERRAL_NFA)
    unreadable = (outcome.isna() & (flag != "")).to_numpy()
    bad |= checks.reject(name, raw, "ReferralNFA", raw["nfa"], unreadable,
                         "not true/false (expected true, false, 1 or 0)")  # fmt: skip
    ids = _ids(child, date)
    out = pd.DataFrame(
        {
            "referral_id": ids,
            "child_id": child,
            "referral_date": date,
            "source": _texts(raw["source"]),
            "outcome": outcome,
            "closure_date": closed,
        }
    )
    return _own(path, raw, out, ~bad), ids.where(~bad, None)


def _records(
    path: Path,
    table: str,
    raw: pd.DataFrame,
    child_of_referral: pd.Series,
    referral_ids: pd.Series,
    checks: _Checks,
) -> pd.DataFrame:
    _, start_element, end_element = _RECORDS[table]
    at = raw["referral"].to_numpy()
    child = child_of_referral.iloc[at].reset_index(drop=True)
    bad = checks.reject(table, raw, "LAchildID", child, (child == "").to_numpy(),
                        "the child has no LAchildID")  # fmt: skip
    start, bad_start = checks.dates(table, raw, "start", start_element, required=True)
    end, bad_end = checks.dates(table, raw, "end", end_element)
    bad |= bad_start | bad_end
    what = "completed" if table == "assessments" else "ended"
    bad |= checks.before(table, raw, start, end, (start_element, end_element), what)
    columns: dict[str, object] = {
        _KEYS[table]: _ids(child, start),
        "child_id": child,
    }
    if table == "assessments":
        # the referral's id, unless the referral itself was rejected (the link cannot be kept)
        columns["referral_id"] = referral_ids.iloc[at].reset_index(drop=True)
    columns["start_date"] = start
    columns[_END_COLUMN[table]] = end
    if table == "cp_plans":
        code = raw["latest"].where(raw["latest"] != "", raw["initial"])
        category = code.str.upper().map(ABUSE)
        wrong = (category.isna() & (code != "")).to_numpy()
        field = np.where(raw["latest"] != "", "LatestCategoryOfAbuse", "InitialCategoryOfAbuse")
        for name in ("LatestCategoryOfAbuse", "InitialCategoryOfAbuse"):
            why = "not a category of abuse (expected NEG, PHY, EMO, SAB or MUL)"
            bad |= checks.reject(table, raw, name, code, wrong & (field == name), why)
        columns["category"] = category
    return _own(path, raw, pd.DataFrame(columns), ~bad)


def read_cin_census(path: Path) -> ReturnRead:
    """Read one year's children in need census XML into contract tables, with its rejections.

    Raises :class:`ImportFailure` for a file that is not a census (or not XML, or hostile XML).
    """
    path = Path(path)
    year, reference, authority = _header(path)
    raw_children, raw_referrals, raw_records = _stream(path)
    checks = _Checks(path, reference)
    children = _children(path, raw_children, checks)
    child_ids = raw_children["id"]
    referrals, referral_ids = _referrals(path, raw_referrals, child_ids, checks)
    child_of_referral = child_ids.iloc[raw_referrals["child"].to_numpy()].reset_index(drop=True)
    tables = {"children": children, "referrals": referrals}
    for table, raw in raw_records.items():
        tables[table] = _records(path, table, raw, child_of_referral, referral_ids, checks)
    read = {"children": len(raw_children), "referrals": len(raw_referrals)}
    read |= {table: len(raw) for table, raw in raw_records.items()}
    return ReturnRead(
        kind="cin_census",
        path=path,
        year=year,
        authority=authority,
        sha256=sha256_of([path]),
        tables=tables,
        records_read=read,
        rejections=checks.rejections,
    )
