"""The statutory returns an authority would have sent, written from an extract.

A return is a snapshot taken at the end of a collection year (1 April to 31 March). It holds
every record open at any time in that year: one that starts on or before 31 March and has no
end or an end on or after 1 April of the year before. So consecutive years' returns overlap:
an episode of care that lasts three years appears in three returns. And it holds only what was
known on 31 March: an end (or a completion, a closure) after that date is blank in that year's
return and appears in the next one.

From an extract this module writes, for each collection year asked for:

- the SSDA903 in its CSV form, a folder of tables with the DfE's column names and
  ``DD/MM/YYYY`` dates (Header, Episodes, Reviews, Missing, OC3, AD1, PlacedAdoption);
- the same SSDA903 in its XML form (``EXPSSDA903``, one ``CHILD`` per child);
- the children in need census XML (``Message``, one ``Child`` with its ``CINdetails``).

Only what the returns carry goes in: no record ids (the importer derives them), no CP visits,
audits, staff or finance, missing episodes only of looked-after children and only as dates, a
care leaver's status only at their 19th, 20th and 21st birthdays (OC3). Fields the returns
carry but an extract does not hold (UPN, category of need, postcodes, adopters...) are left
blank. ``docs/import-cin-census.md`` lists what is left out and what it does to the figures.

Everything is built with pandas, column by column. XML is built the same way: each record's
opening and closing text is one vectorised string column, every fragment gets sort keys (its
child, its referral, its section, its order), and one sort and one join give the document.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from kpi_engine import contract
from kpi_engine.derivations import build_derived_table
from kpi_engine.extract import load_extract

Progress = Callable[[str], None]

MARKER = "returns.yaml"
"""Written last in the returns folder: what was written, for whom and from what."""

TABLES = (
    "children",
    "referrals",
    "assessments",
    "cin_plans",
    "cp_plans",
    "cla_episodes",
    "cla_reviews",
    "missing_episodes",
    "adoptions",
    "care_leavers",
    "care_leaver_contacts",
)
"""The extract tables the returns are written from."""

SSDA903_COLUMNS: dict[str, tuple[str, ...]] = {
    "Header": ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"),
    "Episodes": (
        "CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
        "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN",
    ),
    "Reviews": ("CHILD", "DOB", "REVIEW", "REVIEW_CODE"),
    "Missing": ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"),
    "OC3": ("CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"),
    "AD1": (
        "CHILD", "DOB", "DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR",
        "LS_ADOPTR",
    ),
    "PlacedAdoption": (
        "CHILD", "DOB", "DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED",
    ),
}  # fmt: skip
"""The SSDA903 CSV tables written, with the DfE's column names in the DfE's order."""

SSDA903_FILES = {
    "Header": "header.csv",
    "Episodes": "episodes.csv",
    "Reviews": "reviews.csv",
    "Missing": "missing.csv",
    "OC3": "oc3.csv",
    "AD1": "ad1.csv",
    "PlacedAdoption": "placed_for_adoption.csv",
}

SSDA903_DATE = "%d/%m/%Y"
CENSUS_DATE = "%Y-%m-%d"

_903_SEX = {"M": "1", "F": "2"}  # the 903 has no code for "not known": left blank
_CENSUS_SEX = {"M": "1", "F": "2", "U": "0"}
_ABUSE = {
    "neglect": "NEG",
    "physical": "PHY",
    "emotional": "EMO",
    "sexual": "SAB",
    "multiple": "MUL",
}
# The extract's generic activity codes, as the OC3 codes nearest them; the 903's own pass as is.
_OC3_ACTIVITY = {"eet": "F2", "neet": "G5"}
_OC3_NOT_KNOWN = ("unknown", "0")
# Review participation: PN1-PN6 took part in some way, PN7 did not, PN0 under 4 (no code).
_TOOK_PART = np.array(["PN1", "PN1", "PN1", "PN1", "PN2", "PN3", "PN4", "PN5", "PN6"])
# Accommodation type letters, the digit says suitable (1) or not (2).
_ACCOMMODATION = np.array(["B", "C", "E", "G", "H", "K", "K", "K"])
ADOPTED = ("E11", "E12")
"""Reasons an episode ceased that mean the child was adopted."""


class ReturnsError(ValueError):
    """Returns cannot be written (no such extract, a folder that is not ours to replace)."""


@dataclass(frozen=True)
class CollectionYear:
    """One collection year, named by its end: 2016 is 1 April 2015 to 31 March 2016."""

    year: int

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.year - 1, 4, 1)

    @property
    def stop(self) -> pd.Timestamp:
        """The first day after the year (1 April): the half-open end of the year."""
        return pd.Timestamp(self.year, 4, 1)

    @property
    def reference_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.year, 3, 31)


@dataclass
class ReturnsWritten:
    """What :func:`write_returns` wrote."""

    folder: Path
    years: list[int]
    files: dict[str, int] = field(default_factory=dict)
    """Each file written (relative to ``folder``) and its record count."""
    not_carried: dict[str, int] = field(default_factory=dict)
    """Per extract table, rows no return could carry (a plan outside any referral...)."""


def collection_years(first_month: str, last_month: str) -> list[int]:
    """The collection years lying wholly inside ``first_month``..``last_month`` (``YYYY-MM``)."""
    first = pd.Period(first_month, "M")
    last = pd.Period(last_month, "M")
    begin = first.year + 1 if first.month <= 4 else first.year + 2
    end = last.year if last.month >= 3 else last.year - 1
    return list(range(begin, end + 1))


# --- the extract --------------------------------------------------------------------------------


def _empty(name: str) -> pd.DataFrame:
    kinds = {"date": "datetime64[ns]", "datetime": "datetime64[ns]", "bool": "boolean"}
    return pd.DataFrame(
        {c.name: pd.Series(dtype=kinds.get(c.type, "object")) for c in contract.table(name).columns}
    )


def _load(extract: Path) -> dict[str, pd.DataFrame]:
    loaded = load_extract(extract, TABLES, references=False).tables
    tables = {name: loaded.get(name, _empty(name)) for name in TABLES}
    # plain Python strings: Arrow-backed ones are several times slower in isin and map
    for frame in tables.values():
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.CategoricalDtype | pd.StringDtype):
                frame[column] = frame[column].astype(object)
    return tables


def _open_in(start: pd.Series, end: pd.Series, cy: CollectionYear) -> pd.Series:
    """Rows open at any time in the year (the returns' rule for what they hold)."""
    return (start < cy.stop) & (end.isna() | (end >= cy.start))


def _as_at(dates: pd.Series, cy: CollectionYear) -> pd.Series:
    """Dates as known at the end of the year: later ones were not known yet."""
    return dates.where(dates < cy.stop)


def _in(dates: pd.Series, cy: CollectionYear) -> pd.Series:
    return (dates >= cy.start) & (dates < cy.stop)


def _blank(n: int) -> pd.Series:
    return pd.Series([None] * n, dtype="object")


def _lookup(values: pd.Series, ids: pd.Series) -> pd.Series:
    """``values`` (indexed by child) for each of ``ids``, keeping their dtype (map would not)."""
    return pd.Series(values.reindex(ids.to_numpy()).to_numpy(), index=ids.index)


def _dobs(children: pd.DataFrame, ids: pd.Series) -> pd.Series:
    return _lookup(children.set_index("child_id")["date_of_birth"], ids)


# --- SSDA903 ------------------------------------------------------------------------------------


def _episodes(t: dict[str, pd.DataFrame], cy: CollectionYear) -> pd.DataFrame:
    e = t["cla_episodes"]
    e = e[_open_in(e["start_date"], e["end_date"], cy)].sort_values(["child_id", "start_date"])
    end = _as_at(e["end_date"], cy)
    n = len(e)
    return pd.DataFrame(
        {
            "CHILD": e["child_id"].to_numpy(),
            "DECOM": e["start_date"].to_numpy(),
            "RNE": e["reason_new_episode"].to_numpy(),
            "LS": e["legal_status"].to_numpy(),
            "CIN": _blank(n),
            "PLACE": e["placement_type"].to_numpy(),
            "PLACE_PROVIDER": e["placement_provider"].to_numpy(),
            "DEC": end.to_numpy(),
            "REC": e["reason_ceased"].where(end.notna()).to_numpy(),
            "REASON_PLACE_CHANGE": _blank(n),
            "HOME_POST": _blank(n),
            "PL_POST": _blank(n),
            "URN": _blank(n),
        }
    )


def _reviews(t: dict[str, pd.DataFrame], cy: CollectionYear) -> pd.DataFrame:
    r = t["cla_reviews"]
    r = r[_in(r["review_date"], cy)].sort_values(["child_id", "review_date"])
    took_part = r["child_participated"]
    spread = _TOOK_PART[r["review_date"].dt.day_of_year.to_numpy() % len(_TOOK_PART)]
    code = np.where(took_part.isna(), "PN0", np.where(took_part.fillna(False), spread, "PN7"))
    return pd.DataFrame(
        {
            "CHILD": r["child_id"].to_numpy(),
            "DOB": _dobs(t["children"], r["child_id"]).to_numpy(),
            "REVIEW": r["review_date"].to_numpy(),
            "REVIEW_CODE": code,
        }
    )


def _missing(t: dict[str, pd.DataFrame], cy: CollectionYear) -> pd.DataFrame:
    m = t["missing_episodes"]
    m = m[m["looked_after"].fillna(False).astype(bool)]
    start = m["start_datetime"].dt.normalize()
    end = m["end_datetime"].dt.normalize()
    keep = _open_in(start, end, cy)
    m, start, end = m[keep], start[keep], end[keep]
    order = np.lexsort((start.to_numpy(), m["child_id"].to_numpy()))
    return pd.DataFrame(
        {
            "CHILD": m["child_id"].to_numpy()[order],
            "DOB": _dobs(t["children"], m["child_id"]).to_numpy()[order],
            "MISSING": np.full(len(m), "M"),
            "MIS_START": start.to_numpy()[order],
            "MIS_END": _as_at(end, cy).to_numpy()[order],
        }
    )


def _oc3(t: dict[str, pd.DataFrame], cy: CollectionYear) -> pd.DataFrame:
    """Care leavers at their 19th-21st birthdays in the year, on the engine's own rule for the
    status at a birthday (the contact nearest it, 3 months before to 1 month after)."""
    b = build_derived_table("care_leaver_birthdays", t)
    b = b[b["qualifying"].astype(bool) & _in(b["birthday"], cy)]
    b = b.sort_values(["child_id", "birthday"])
    in_touch = b["in_touch"].astype(bool).to_numpy()
    activity = b["activity"].astype("object")
    activity = activity.mask(activity.isin(_OC3_NOT_KNOWN)).replace(_OC3_ACTIVITY)
    suitable = b["accommodation_suitable"].astype(bool).to_numpy()
    letter = _ACCOMMODATION[b["birthday"].dt.day.to_numpy() % len(_ACCOMMODATION)]
    accommodation = np.char.add(letter.astype(str), np.where(suitable, "1", "2"))
    return pd.DataFrame(
        {
            "CHILD": b["child_id"].to_numpy(),
            "DOB": _dobs(t["children"], b["child_id"]).to_numpy(),
            "IN_TOUCH": np.where(in_touch, "YES", "NO"),
            "ACTIV": pd.Series(activity.to_numpy()).where(in_touch),
            "ACCOM": pd.Series(accommodation).where(in_touch),
        }
    )


def _adoption_end(t: dict[str, pd.DataFrame]) -> pd.Series:
    """Per child, the date they were adopted: the end of an episode ceasing E11/E12."""
    e = t["cla_episodes"]
    adopted = e[e["reason_ceased"].isin(ADOPTED) & e["end_date"].notna()]
    return adopted.groupby("child_id")["end_date"].max()


def _ad1(t: dict[str, pd.DataFrame], cy: CollectionYear) -> pd.DataFrame:
    a = t["adoptions"]
    adopted_on = _lookup(_adoption_end(t), a["child_id"])
    a = a[_in(adopted_on, cy)].sort_values("child_id")
    n = len(a)
    return pd.DataFrame(
        {
            "CHILD": a["child_id"].to_numpy(),
            "DOB": _dobs(t["children"], a["child_id"]).to_numpy(),
            "DATE_INT": a["placement_order_date"].to_numpy(),
            "DATE_MATCH": a["matched_date"].to_numpy(),
            "FOSTER_CARE": _blank(n),
            "NB_ADOPTR": _blank(n),
            "SEX_ADOPTR": _blank(n),
            "LS_ADOPTR": _blank(n),
        }
    )


def _placed_adoption(
    t: dict[str, pd.DataFrame], cy: CollectionYear, looked_after: pd.Series
) -> pd.DataFrame:
    a = t["adoptions"]
    decided = a["placement_order_date"]
    a = a[(decided < cy.stop) & a["child_id"].isin(looked_after)].sort_values("child_id")
    ceased = _as_at(_lookup(_adoption_end(t), a["child_id"]), cy)
    return pd.DataFrame(
        {
            "CHILD": a["child_id"].to_numpy(),
            "DOB": _dobs(t["children"], a["child_id"]).to_numpy(),
            "DATE_PLACED": a["placement_order_date"].to_numpy(),
            "DATE_PLACED_CEASED": ceased.to_numpy(),
            "REASON_PLACED_CEASED": pd.Series("RD1", index=ceased.index)
            .where(ceased.notna())
            .to_numpy(),
        }
    )


def ssda903_tables(t: dict[str, pd.DataFrame], cy: CollectionYear) -> dict[str, pd.DataFrame]:
    """One year's SSDA903 as tables with the DfE's column names (dates still as dates)."""
    episodes = _episodes(t, cy)
    tables = {
        "Episodes": episodes,
        "Reviews": _reviews(t, cy),
        "Missing": _missing(t, cy),
        "OC3": _oc3(t, cy),
        "AD1": _ad1(t, cy),
        "PlacedAdoption": _placed_adoption(t, cy, episodes["CHILD"]),
    }
    in_return = pd.unique(np.concatenate([f["CHILD"].to_numpy() for f in tables.values()]))
    c = t["children"]
    c = c[c["child_id"].isin(in_return)].sort_values("child_id")
    n = len(c)
    header = pd.DataFrame(
        {
            "CHILD": c["child_id"].to_numpy(),
            "SEX": c["sex"].map(_903_SEX).to_numpy(),
            "DOB": c["date_of_birth"].to_numpy(),
            "ETHNIC": c["ethnicity"].to_numpy(),
            "UPN": _blank(n),
            "MOTHER": _blank(n),
            "MC_DOB": _blank(n),
        }
    )
    return {"Header": header, **tables}


def _formatted(frame: pd.DataFrame, date_format: str) -> pd.DataFrame:
    """Dates as text in ``date_format``; everything else as text; missing as None."""
    out = {}
    for name, column in frame.items():
        if pd.api.types.is_datetime64_any_dtype(column):
            out[name] = column.dt.strftime(date_format).astype("object")
        else:
            out[name] = column.astype("object")
    formatted = pd.DataFrame(out, index=frame.index)
    return formatted.where(formatted.notna(), None)


def write_ssda903_csv(tables: dict[str, pd.DataFrame], folder: Path) -> dict[str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        _formatted(frame, SSDA903_DATE).to_csv(folder / SSDA903_FILES[name], index=False)
    return {SSDA903_FILES[name]: len(frame) for name, frame in tables.items()}


# --- XML, vectorised ----------------------------------------------------------------------------


_SPECIAL = r"[&<>]"


def _escape(text: pd.Series) -> pd.Series:
    """XML-escaped text; only the rare values holding ``&``, ``<`` or ``>`` are touched."""
    special = text.str.contains(_SPECIAL, regex=True).fillna(False).to_numpy(dtype=bool)
    if not special.any():
        return text
    escaped = (
        text[special]
        .str.replace("&", "&amp;", regex=False)
        .str.replace("<", "&lt;", regex=False)
        .str.replace(">", "&gt;", regex=False)
    )
    return text.mask(special, escaped)


def _elements(frame: pd.DataFrame, date_format: str, names: dict[str, str]) -> np.ndarray:
    """``<Name>value</Name>`` for each column (``names``: column → element), concatenated per
    row; an element whose value is missing is left out (an absent element means no value).

    Built on object arrays: numpy adds Python strings element by element in C, without the
    copies a string Series makes at each step.
    """
    out = np.full(len(frame), "", dtype=object)
    for column, element in names.items():
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            text = values.dt.strftime(date_format)  # digits and separators: nothing to escape
        else:
            text = values.astype(object).where(values.notna(), None)
            text = _escape(text[text.notna()].astype(str)).reindex(values.index)
        present = text.notna().to_numpy()
        strings = text.to_numpy(dtype=object)[present]
        out[present] = out[present] + f"<{element}>" + strings + f"</{element}>"
    return out


@dataclass
class _Fragments:
    """Pieces of an XML document with their sort keys; joined once, in key order."""

    keys: list[np.ndarray] = field(default_factory=list)
    texts: list[np.ndarray] = field(default_factory=list)

    def add(self, text: pd.Series | np.ndarray, *keys: np.ndarray | int) -> None:
        values = np.asarray(text, dtype=object)
        n = len(values)
        self.keys.append(np.stack([np.broadcast_to(np.asarray(k), n) for k in keys]).T)
        self.texts.append(values)

    def document(self, opening: str, closing: str) -> str:
        if not self.texts:
            return opening + closing
        keys = np.concatenate(self.keys)
        texts = np.concatenate(self.texts)
        order = np.lexsort(keys.T[::-1])
        return opening + "\n".join(texts[order].tolist()) + "\n" + closing


# --- SSDA903 XML --------------------------------------------------------------------------------


def ssda903_xml(tables: dict[str, pd.DataFrame]) -> str:
    """The SSDA903's XML form: ``EXPSSDA903`` › ``CHILD`` › ``HEADER`` (with the child's reviews
    as ``AREVIEW``, ``OC3``, ``AD1``, ``PLACED_ADOPTION``), ``EPISODE`` and ``MISSING``."""
    header = tables["Header"]
    position = pd.Series(np.arange(len(header)), index=header["CHILD"].to_numpy())
    f = _Fragments()

    def child_of(frame: pd.DataFrame) -> np.ndarray:
        return position.reindex(frame["CHILD"].to_numpy()).to_numpy(dtype=np.int64)

    fields = {c: c for c in ("SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB")}
    opening = "  <CHILD>\n    <HEADER>" + _elements(
        header, SSDA903_DATE, {"CHILD": "CHILDID", **fields}
    )
    f.add(opening, np.arange(len(header)), 0, 0)
    inside = (
        ("Reviews", "AREVIEW", ("REVIEW", "REVIEW_CODE")),
        ("OC3", "OC3", ("IN_TOUCH", "ACTIV", "ACCOM")),
        ("AD1", "AD1", SSDA903_COLUMNS["AD1"][2:]),
        ("PlacedAdoption", "PLACED_ADOPTION", SSDA903_COLUMNS["PlacedAdoption"][2:]),
    )
    for section, (table, element, columns) in enumerate(inside, start=1):
        frame = tables[table]
        body = _elements(frame, SSDA903_DATE, {c: c for c in columns})
        f.add(
            "      <" + element + ">" + body + "</" + element + ">",
            child_of(frame),
            section,
            np.arange(len(frame)),
        )
    f.add(np.full(len(header), "    </HEADER>"), np.arange(len(header)), 8, 0)
    outside = (
        ("Episodes", "EPISODE", {**{c: c for c in SSDA903_COLUMNS["Episodes"][1:]}, "PLACE": "PL"}),
        ("Missing", "MISSING", {c: c for c in SSDA903_COLUMNS["Missing"][2:]}),
    )
    for section, (table, element, names) in enumerate(outside, start=9):
        frame = tables[table]
        body = _elements(frame, SSDA903_DATE, names)
        f.add(
            "    <" + element + ">" + body + "</" + element + ">",
            child_of(frame),
            section,
            np.arange(len(frame)),
        )
    f.add(np.full(len(header), "  </CHILD>"), np.arange(len(header)), 99, 0)
    return f.document('<?xml version="1.0" encoding="utf-8"?>\n<EXPSSDA903>\n', "</EXPSSDA903>\n")


# --- children in need census --------------------------------------------------------------------


def _latest_referral(records: pd.DataFrame, start: str, referrals: pd.DataFrame) -> pd.Series:
    """Per record, the child's latest referral on or before its start (None if there is none):
    the ``CINdetails`` the census carries it in."""
    left = pd.DataFrame(
        {
            "child_id": records["child_id"].to_numpy(dtype=object),
            "at": records[start].to_numpy(dtype="datetime64[ns]"),
            "row": np.arange(len(records)),
        }
    ).astype({"child_id": "str"})  # both sides one dtype, even when empty
    left = left.sort_values("at")
    right = pd.DataFrame(
        {
            "child_id": referrals["child_id"].to_numpy(dtype=object),
            "referral_date": referrals["referral_date"].to_numpy(dtype="datetime64[ns]"),
            "referral_id": referrals["referral_id"].to_numpy(dtype=object),
        }
    ).astype({"child_id": "str"})
    right = right.sort_values("referral_date")
    matched = pd.merge_asof(
        left, right, left_on="at", right_on="referral_date", by="child_id", direction="backward"
    ).sort_values("row")
    return pd.Series(matched["referral_id"].to_numpy(), index=records.index, dtype="object")


@dataclass
class _CensusSource:
    """The extract's children in need records, each with the referral that carries it."""

    referrals: pd.DataFrame
    assessments: pd.DataFrame
    cin_plans: pd.DataFrame
    cp_plans: pd.DataFrame
    not_carried: dict[str, int]


def _census_source(t: dict[str, pd.DataFrame]) -> _CensusSource:
    referrals = t["referrals"].sort_values(["child_id", "referral_date"])
    known = set(referrals["referral_id"])
    a = t["assessments"].copy()
    asof = _latest_referral(a, "start_date", referrals)
    a["carrier"] = a["referral_id"].where(a["referral_id"].isin(known), asof)
    cin = t["cin_plans"].copy()
    cin["carrier"] = _latest_referral(cin, "start_date", referrals)
    cp = t["cp_plans"].sort_values(["child_id", "start_date"]).copy()
    cp["previous"] = cp.groupby("child_id").cumcount()
    cp["carrier"] = _latest_referral(cp, "start_date", referrals)
    lost = {
        name: int(f["carrier"].isna().sum())
        for name, f in (("assessments", a), ("cin_plans", cin), ("cp_plans", cp))
    }
    return _CensusSource(
        referrals,
        a[a["carrier"].notna()],
        cin[cin["carrier"].notna()],
        cp[cp["carrier"].notna()],
        {k: v for k, v in lost.items() if v},
    )


def census_xml(
    t: dict[str, pd.DataFrame], source: _CensusSource, cy: CollectionYear, authority: str
) -> tuple[str, dict[str, int]]:
    """One year's children in need census XML, and its record counts."""
    subs = {
        "Assessments": (source.assessments, "start_date", "completed_date"),
        "CINPlanDates": (source.cin_plans, "start_date", "end_date"),
        "ChildProtectionPlans": (source.cp_plans, "start_date", "end_date"),
    }
    in_year = {k: f[_open_in(f[s], f[e], cy)] for k, (f, s, e) in subs.items()}
    r = source.referrals
    carriers = np.concatenate([f["carrier"].to_numpy() for f in in_year.values()])
    r = r[_open_in(r["referral_date"], r["closure_date"], cy) | r["referral_id"].isin(carriers)]
    c = t["children"]
    c = c[c["child_id"].isin(r["child_id"])].sort_values("child_id")
    child_at = pd.Series(np.arange(len(c)), index=c["child_id"].to_numpy())
    referral_at = pd.Series(np.arange(len(r)), index=r["referral_id"].to_numpy())
    f = _Fragments()
    f.add(_census_child(c, cy), np.arange(len(c)), -1, 0, 0)
    f.add(np.full(len(c), "    </Child>"), np.arange(len(c)), len(r), 0, 0)
    rc = child_at.reindex(r["child_id"].to_numpy()).to_numpy()
    closed = _as_at(r["closure_date"], cy)
    nfa = r["outcome"].map({"assessment": "false", "nfa": "true", "early_help": "true"})
    details = pd.DataFrame(
        {"date": r["referral_date"], "source": r["source"], "closed": closed, "nfa": nfa}
    )
    names = {
        "date": "CINreferralDate",
        "source": "ReferralSource",
        "closed": "CINclosureDate",
        "nfa": "ReferralNFA",
    }
    f.add(
        "      <CINdetails>" + _elements(details, CENSUS_DATE, names), rc, np.arange(len(r)), 0, 0
    )
    f.add(np.full(len(r), "      </CINdetails>"), rc, np.arange(len(r)), 9, 0)
    for section, (element, frame) in enumerate(in_year.items(), start=1):
        body = _census_record(element, frame, cy)
        at = referral_at.reindex(frame["carrier"].to_numpy()).to_numpy()
        start = frame[subs[element][1]].to_numpy(dtype="datetime64[D]").astype(np.int64)
        f.add("        <" + element + ">" + body + "</" + element + ">", rc[at], at, section, start)
    opening = (
        '<?xml version="1.0" encoding="utf-8"?>\n<Message>\n  <Header>\n'
        "    <CollectionDetails><Collection>CIN</Collection>"
        f"<Year>{cy.year}</Year><ReferenceDate>{cy.reference_date:%Y-%m-%d}</ReferenceDate>"
        "</CollectionDetails>\n"
        f"    <Source><SourceLevel>L</SourceLevel><LEA>{authority}</LEA>"
        "<SoftwareCode>kpi-engine</SoftwareCode><Release>1</Release><SerialNo>1</SerialNo>"
        f"<DateTime>{cy.year}-05-01T09:00:00</DateTime></Source>\n"
        "  </Header>\n  <Children>\n"
    )
    counts = {"Child": len(c), "CINdetails": len(r), **{k: len(v) for k, v in in_year.items()}}
    return f.document(opening, "  </Children>\n</Message>\n"), counts


def _census_child(c: pd.DataFrame, cy: CollectionYear) -> np.ndarray:
    sex_element = "GenderCurrent" if cy.year >= 2023 else "Sex"  # renamed in the 2023 census
    identifiers = pd.DataFrame(
        {
            "id": c["child_id"],
            "unknown": "UN5",  # the sources collating this return hold no UPN
            "dob": c["date_of_birth"],
            "sex": c["sex"].map(_CENSUS_SEX),
        }
    )
    names = {
        "id": "LAchildID",
        "unknown": "UPNunknown",
        "dob": "PersonBirthDate",
        "sex": sex_element,
    }
    disabled = c["disabled"].astype("boolean")
    disability = disabled.map({True: "DDA", False: "NONE"}).astype("object")
    characteristics = pd.DataFrame({"ethnicity": c["ethnicity"], "disability": disability})
    # A single Disability: "DDA" (disabled, type not held) or "NONE"; left out when not known.
    disabilities = _elements(characteristics, CENSUS_DATE, {"disability": "Disability"})
    has = disability.notna().to_numpy()
    disabilities[has] = "<Disabilities>" + disabilities[has] + "</Disabilities>"
    opening: np.ndarray = (
        "    <Child>\n      <ChildIdentifiers>"
        + _elements(identifiers, CENSUS_DATE, names)
        + "</ChildIdentifiers>\n      <ChildCharacteristics>"
        + _elements(characteristics, CENSUS_DATE, {"ethnicity": "Ethnicity"})
        + disabilities
        + "</ChildCharacteristics>"
    )
    return opening


def _census_record(element: str, frame: pd.DataFrame, cy: CollectionYear) -> np.ndarray:
    end = _as_at(frame["completed_date" if element == "Assessments" else "end_date"], cy)
    if element == "Assessments":
        data = pd.DataFrame({"start": frame["start_date"], "end": end})
        return _elements(
            data,
            CENSUS_DATE,
            {"start": "AssessmentActualStartDate", "end": "AssessmentAuthorisationDate"},
        )
    if element == "CINPlanDates":
        data = pd.DataFrame({"start": frame["start_date"], "end": end})
        return _elements(data, CENSUS_DATE, {"start": "CINPlanStartDate", "end": "CINPlanEndDate"})
    category = frame["category"].map(_ABUSE)
    data = pd.DataFrame(
        {
            "start": frame["start_date"],
            "end": end,
            "initial": category,
            "latest": category,
            "previous": frame["previous"].astype(str),
        }
    )
    names = {
        "start": "CPPstartDate",
        "end": "CPPendDate",
        "initial": "InitialCategoryOfAbuse",
        "latest": "LatestCategoryOfAbuse",
        "previous": "NumberOfPreviousCPP",
    }
    return _elements(data, CENSUS_DATE, names)


# --- writing ------------------------------------------------------------------------------------


def write_returns(
    extract: Path,
    output: Path,
    years: Sequence[int],
    *,
    authority: str = "999",
    progress: Progress | None = None,
) -> ReturnsWritten:
    """Write the SSDA903 (CSV folder and XML) and the CIN census for each of ``years``.

    Files: ``ssda903-YYYY/*.csv``, ``ssda903-YYYY.xml``, ``cin-census-YYYY.xml`` and
    ``returns.yaml``. ``output`` appears whole or not at all; an existing ``output`` is
    replaced only when it holds returns written here before (its ``returns.yaml``).
    """
    if not years:
        raise ReturnsError("no collection year to write (each needs April to March in range)")
    tables = _load(Path(extract))
    source = _census_source(tables)
    result = ReturnsWritten(output, sorted(years), not_carried=dict(source.not_carried))
    with _staging(output) as staging:
        for year in result.years:
            cy = CollectionYear(year)
            ssda903 = ssda903_tables(tables, cy)
            for name, rows in write_ssda903_csv(ssda903, staging / f"ssda903-{year}").items():
                result.files[f"ssda903-{year}/{name}"] = rows
            (staging / f"ssda903-{year}.xml").write_text(ssda903_xml(ssda903), encoding="utf-8")
            result.files[f"ssda903-{year}.xml"] = len(ssda903["Header"])
            text, counts = census_xml(tables, source, cy, authority)
            (staging / f"cin-census-{year}.xml").write_text(text, encoding="utf-8")
            result.files[f"cin-census-{year}.xml"] = counts["Child"]
            if progress:
                progress(f"returns for {year - 1}-{year % 100:02d} written")
        marker = {
            "written_from": str(extract),
            "authority": authority,
            "years": result.years,
            "files": result.files,
            "not_carried": result.not_carried,
        }
        (staging / MARKER).write_text(yaml.safe_dump(marker, sort_keys=False), encoding="utf-8")
    return result


@contextlib.contextmanager
def _staging(output: Path):  # type: ignore[no-untyped-def]
    """A hidden sibling folder, renamed onto ``output`` when everything is written."""
    if output.exists() and any(output.iterdir()) and not (output / MARKER).exists():
        raise ReturnsError(
            f"{output} exists and does not hold returns written by kpi (no {MARKER}); "
            "choose a new or empty folder"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        yield staging
        old = None
        if output.exists():
            old = output.with_name(f"{staging.name}.old")
            os.replace(output, old)
        os.replace(staging, output)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
