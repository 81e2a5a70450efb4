"""One year's SSDA903 (children looked after) return, read into the extract contract's tables.

Both forms (CSV folder, XML file) are first read into raw text tables named by the return's
fields (``_ssda903_raw``); the mapping below is then one set of whole-column steps. Records get
derived keys from what identifies them in the return: an episode is its child and DECOM, a
review its child and REVIEW date, a missing episode its child and MIS_START. A record that
cannot enter the extract is rejected with the return's file, line (or XML path), field and value.
See docs/import-ssda903.md for the field-by-field mapping.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kpi_engine import contract
from kpi_engine.calendar import add_months, bank_holidays
from kpi_engine.importers import _stack
from kpi_engine.importers._common import (
    FILE,
    LOCATION,
    Finding,
    ImportFailure,
    Rejection,
    ReturnRead,
    date_reason,
    member,
    parse_dates,
    reject_rows,
    year_end,
    year_start,
)
from kpi_engine.importers._ssda903_raw import read_raw

DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y")
SEX = {"1": "M", "2": "F", "M": "M", "F": "F"}
PARTICIPATED = {"PN1": True, "PN2": True, "PN3": True, "PN4": True, "PN5": True, "PN6": True}
NOT_PARTICIPATED = ("PN7",)
ADOPTION_PLACEMENTS = ("A3", "A4", "A5", "A6")
ADOPTED = ("E11", "E12")
IN_TOUCH_YES = ("YES",)
FIRST_REVIEW_WORKING_DAYS = 20

FIELDS: dict[str, dict[str, str]] = {
    "children": {"child_id": "CHILD", "date_of_birth": "DOB", "sex": "SEX", "ethnicity": "ETHNIC"},
    "cla_episodes": {
        "episode_id": "DECOM",
        "child_id": "CHILD",
        "start_date": "DECOM",
        "end_date": "DEC",
        "reason_new_episode": "RNE",
        "legal_status": "LS",
        "placement_type": "PLACE",
        "placement_provider": "PLACE_PROVIDER",
        "reason_ceased": "REC",
    },
    "cla_reviews": {
        "review_id": "REVIEW",
        "child_id": "CHILD",
        "review_date": "REVIEW",
        "due_date": "REVIEW",
        "child_participated": "REVIEW_CODE",
    },
    "missing_episodes": {
        "missing_id": "MIS_START",
        "child_id": "CHILD",
        "start_datetime": "MIS_START",
        "end_datetime": "MIS_END",
        "looked_after": "MISSING",
    },
    "adoptions": {"child_id": "CHILD", "entered_care_date": "DECOM", "matched_date": "DATE_MATCH"},
    "care_leavers": {"child_id": "CHILD", "date_of_birth": "DOB"},
    "care_leaver_contacts": {
        "contact_id": "DOB",
        "child_id": "CHILD",
        "contact_date": "DOB",
        "in_touch": "IN_TOUCH",
        "activity": "ACTIV",
        "accommodation_suitable": "ACCOM",
    },
}
"""Per extract table: the return field each column comes from (named in rejections)."""


class _Rows:
    """Rejections of one read, and the rows each table has lost to them."""

    def __init__(self, year: int) -> None:
        self.year = year
        self.rejections: list[Rejection] = []
        self.findings: list[Finding] = []

    def reject(
        self, table: str, frame: pd.DataFrame, field: str, mask: pd.Series | np.ndarray, why: str
    ) -> np.ndarray:
        hits = np.asarray(mask, dtype=bool)
        if hits.any():
            file = str(frame[FILE].iloc[0])
            self.rejections += reject_rows(
                table, file, frame[LOCATION], field, frame.get(field, frame[LOCATION]), hits, why
            )
        return hits

    def dates(
        self, table: str, frame: pd.DataFrame, field: str, bad: np.ndarray
    ) -> tuple[pd.Series, np.ndarray]:
        """``field`` read as dates; unreadable ones and ones after the year rejected."""
        values = frame[field] if field in frame else pd.Series("", index=frame.index)
        dates, unreadable = parse_dates(values, DATE_FORMATS)
        bad |= self.reject(table, frame, field, unreadable.to_numpy(), date_reason(DATE_FORMATS))
        late = (dates > year_end(self.year)).to_numpy()
        why = f"in the future (after the year's end, 31/03/{self.year})"
        bad |= self.reject(table, frame, field, late, why)
        return dates.where(~late), bad


def _text(frame: pd.DataFrame, field: str) -> pd.Series:
    values = frame[field] if field in frame else pd.Series("", index=frame.index, dtype="str")
    text = values.astype("str").str.strip()
    return pd.Series(text.mask(text == ""))


def _ids(child: pd.Series, dates: pd.Series) -> pd.Series:
    return pd.Series(child + "/" + dates.dt.strftime("%Y-%m-%d"))


def _own(frame: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    out[FILE] = frame[FILE].to_numpy()
    out[LOCATION] = frame[LOCATION].to_numpy()
    return out


def _children(raw: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    bad = np.zeros(len(raw), dtype=bool)
    born, bad = rows.dates("children", raw, "DOB", bad)
    written = _text(raw, "SEX")
    blank = written.isna().to_numpy()
    sex = written.map(SEX)
    why = "not a SEX code (expected 1 male or 2 female, or blank: not known)"
    bad |= rows.reject("children", raw, "SEX", sex.isna().to_numpy() & ~blank, why)
    # the 903 has no code for a sex not known: blank is that, the contract's U, and the
    # child's episodes, reviews and care-leaver records stay (a finding, not a rejection)
    sex = sex.mask(blank, "U")
    child = _text(raw, "CHILD")
    rows.findings += _unknown_sex(raw, child, blank & ~bad)
    out = pd.DataFrame(
        {
            "child_id": child,
            "date_of_birth": born,
            "sex": sex,
            "ethnicity": _text(raw, "ETHNIC"),
            "disabled": pd.Series(pd.NA, index=raw.index, dtype="boolean"),
        }
    )
    return _own(raw, out)[~bad]


def _unknown_sex(raw: pd.DataFrame, child: pd.Series, hits: np.ndarray) -> list[Finding]:
    """A finding for each header row imported with SEX blank (only those rows are visited)."""
    if not hits.any():
        return []
    file = str(raw[FILE].iloc[0])
    ids = child[hits].fillna("").tolist()
    places = raw[LOCATION][hits].astype("str").tolist()
    why = "{}: {}: SEX blank (the 903 has no code for not known): imported as U, not known"
    return [
        Finding("children", c, "sex", "", "U", file, file, why.format(file, where))
        for c, where in zip(ids, places, strict=True)
    ]


def _episodes(raw: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    bad = np.zeros(len(raw), dtype=bool)
    start, bad = rows.dates("cla_episodes", raw, "DECOM", bad)
    end, bad = rows.dates("cla_episodes", raw, "DEC", bad)
    child = _text(raw, "CHILD")
    out = pd.DataFrame(
        {
            "episode_id": _ids(child, start),
            "child_id": child,
            "start_date": start,
            "end_date": end,
            "reason_new_episode": _text(raw, "RNE"),
            "legal_status": _text(raw, "LS"),
            "placement_type": _text(raw, "PLACE"),
            "placement_provider": _text(raw, "PLACE_PROVIDER"),
            "reason_ceased": _text(raw, "REC"),
        }
    )
    return _own(raw, out)[~bad]


def _reviews(raw: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    bad = np.zeros(len(raw), dtype=bool)
    when, bad = rows.dates("cla_reviews", raw, "REVIEW", bad)
    code = _text(raw, "REVIEW_CODE")
    known = code.isin([*PARTICIPATED, *NOT_PARTICIPATED, "PN0"]) | code.isna()
    why = "not a REVIEW_CODE (expected PN0 to PN7)"
    bad |= rows.reject("cla_reviews", raw, "REVIEW_CODE", (~known).to_numpy(), why)
    participated = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    participated[code.isin(PARTICIPATED).to_numpy()] = True
    participated[code.isin(NOT_PARTICIPATED).to_numpy()] = False
    child = _text(raw, "CHILD")
    out = pd.DataFrame(
        {
            "review_id": _ids(child, when),
            "child_id": child,
            "review_date": when,
            "due_date": when,  # provisional: review_due_dates sets it once the years are stacked
            "child_participated": participated,
        }
    )
    return _own(raw, out)[~bad]


def _missing(raw: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    code = _text(raw, "MISSING").str.upper()
    raw = raw[(code == "M").to_numpy()]  # "A" (away from placement) is not a missing episode
    bad = np.zeros(len(raw), dtype=bool)
    start, bad = rows.dates("missing_episodes", raw, "MIS_START", bad)
    end, bad = rows.dates("missing_episodes", raw, "MIS_END", bad)
    child = _text(raw, "CHILD")
    out = pd.DataFrame(
        {
            "missing_id": _ids(child, start),
            "child_id": child,
            "start_datetime": start,
            "end_datetime": end,
            "looked_after": pd.Series(True, index=raw.index, dtype="boolean"),
        }
    )
    return _own(raw, out)[~bad]


def _birthday_in_year(born: pd.Series, year: int) -> pd.Series:
    """The child's birthday that falls in the collection year (29 February: 28 February)."""
    after_march = born.dt.month >= 4
    years = np.where(after_march, year - 1, year)
    day = np.where((born.dt.month == 2) & (born.dt.day == 29), 28, born.dt.day)
    parts = pd.DataFrame({"year": years, "month": born.dt.month, "day": day}, index=born.index)
    return pd.to_datetime(parts, errors="coerce").astype("datetime64[ns]")


def _care_leavers(raw: pd.DataFrame, rows: _Rows) -> tuple[pd.DataFrame, pd.DataFrame]:
    bad = np.zeros(len(raw), dtype=bool)
    born, bad = rows.dates("care_leaver_contacts", raw, "DOB", bad)
    child = _text(raw, "CHILD")
    in_touch = _text(raw, "IN_TOUCH").str.upper()
    accom = _text(raw, "ACCOM").str.upper().str[-1:]
    suitable = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    suitable[(accom == "1").to_numpy()] = True
    suitable[(accom == "2").to_numpy()] = False
    contact = _birthday_in_year(born, rows.year)
    leavers = pd.DataFrame(
        {"child_id": child, "date_of_birth": born, "qualifying": True}, index=raw.index
    )
    contacts = pd.DataFrame(
        {
            "contact_id": _ids(child, contact),
            "child_id": child,
            "contact_date": contact,
            "in_touch": in_touch.isin(IN_TOUCH_YES).where(in_touch.notna()).astype("boolean"),
            "activity": _text(raw, "ACTIV").str.upper(),
            "accommodation_suitable": suitable,
        }
    )
    return _own(raw, leavers)[~bad], _own(raw, contacts)[~bad]


def _in_header(table: str, frame: pd.DataFrame, header: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    """Only records of children the return's header lists (the rest rejected)."""
    lost = ~member(frame["child_id"], header["child_id"])
    why = "the child has no header record in this return"
    rows.reject(table, frame.rename(columns={"child_id": "CHILD"}), "CHILD", lost, why)
    return frame[~lost]


def _with_fields(rejections: list[Rejection], raw: dict[str, pd.DataFrame]) -> list[Rejection]:
    """Rejections in the return's words: its field names and its values as written.

    Rules checked on the mapped tables see ``2015-03-01``; the user's file says ``01/03/2015``.
    Only the rejected rows are looked up.
    """
    named = [
        dataclasses.replace(r, field=FIELDS.get(r.table, {}).get(r.field, r.field))
        for r in rejections
    ]
    places: dict[tuple[str, str], tuple[pd.DataFrame, int]] = {}
    wanted = {(r.file, r.location) for r in named}
    for frame in raw.values():
        if frame.empty:
            continue
        hits = frame[LOCATION].isin({loc for _, loc in wanted}).to_numpy()
        for position in np.flatnonzero(hits).tolist():
            file = str(frame[FILE].iloc[position])
            places.setdefault((file, str(frame[LOCATION].iloc[position])), (frame, position))
    out = []
    for r in named:
        place = places.get((r.file, r.location))
        if place is not None and r.field in place[0]:
            r = dataclasses.replace(r, value=str(place[0][r.field].iloc[place[1]]))
        out.append(r)
    return out


def _collection_year(raw: dict[str, pd.DataFrame], path: Path, today: dt.date) -> int:
    """The collection year most of the return's in-year dates fall in.

    Episode ends, reviews and missing episodes all lie in the return's year, so the year most of
    them fall in is its year, whatever a few mistyped dates say (ties: the later year). A return
    with none of them (every episode open, no reviews) is dated by its latest DECOM. Dates after
    ``today`` are left out.
    """
    in_year = [("episodes", "DEC"), ("reviews", "REVIEW"), ("missing", "MIS_START")]
    for fields in (in_year, [("episodes", "DECOM")]):
        years = [
            _years(raw[table][field], today)
            for table, field in fields
            if table in raw and field in raw[table]
        ]
        found = pd.concat(years) if years else pd.Series(dtype="int64")
        if found.empty:
            continue
        if fields[0][1] == "DECOM":
            return int(found.max())
        counts = found.value_counts()
        return int(counts[counts == counts.max()].index.max())
    raise ImportFailure(f"{path}: cannot tell the collection year (no dates); give it (--year)")


def _years(raw: pd.Series, today: dt.date) -> pd.Series:
    dates, _ = parse_dates(raw, DATE_FORMATS)
    dates = dates[dates.notna() & (dates <= pd.Timestamp(today))]
    return pd.Series(dates.dt.year + (dates.dt.month >= 4).astype("int64"), dtype="int64")


def _matches(ad1: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    """AD1's matching dates (child_id, matched_date), for the adoptions worked out once the
    years are stacked; an unreadable or future DATE_MATCH is rejected."""
    bad = np.zeros(len(ad1), dtype=bool)
    when, bad = rows.dates("adoptions", ad1, "DATE_MATCH", bad)
    out = _own(ad1, pd.DataFrame({"child_id": _text(ad1, "CHILD"), "matched_date": when}))
    return out[~bad & when.notna().to_numpy()]


def adoptions(
    episodes: pd.DataFrame, matches: pd.DataFrame
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Adoption milestones from every year's episodes (placed, adopted) and AD1 (matched).

    Worked out once the years are stacked: a child placed for adoption in 2015-16 usually
    entered care years before, in an episode only an earlier return holds. One row per child
    whose returned episodes hold an A3-A6 placement or an adoption (REC E11/E12); the child's
    whole history (an existing extract's episodes too) dates it. A child whose period of care
    began before every return imported (no RNE S episode starts it) is rejected.
    """
    returned = episodes[(episodes[_stack.RANK] != _stack.EXISTING).to_numpy()]
    is_placed = episodes["placement_type"].isin(ADOPTION_PLACEMENTS)
    is_adopted = episodes["reason_ceased"].isin(ADOPTED)
    mine = is_placed | is_adopted
    children = pd.Index(returned.loc[mine[returned.index], "child_id"].unique()).sort_values()
    if children.empty:
        return pd.DataFrame(), []
    placed = episodes[is_placed].sort_values("start_date").groupby("child_id").first()
    ceased = episodes[is_adopted].sort_values("end_date").groupby("child_id").last()
    order = episodes[episodes["legal_status"] == "E1"].groupby("child_id")["start_date"].min()
    matched = matches.groupby("child_id")["matched_date"].max() if len(matches) else None
    milestone = placed["start_date"].reindex(children).fillna(ceased["end_date"].reindex(children))
    began = care_periods(episodes).period_start_at(pd.Series(children, index=children), milestone)
    source = placed[[FILE, LOCATION]].reindex(children)
    source = source.fillna(ceased[[FILE, LOCATION]].reindex(children))
    out = pd.DataFrame(
        {
            "child_id": children,
            "entered_care_date": began.to_numpy(),
            "placement_order_date": order.reindex(children).to_numpy(),
            "matched_date": (
                matched.reindex(children).to_numpy() if matched is not None else pd.NaT
            ),
            "placed_date": placed["start_date"].reindex(children).to_numpy(),
            "adoption_order_date": ceased["end_date"].reindex(children).to_numpy(),
            FILE: source[FILE].to_numpy(),
            LOCATION: source[LOCATION].to_numpy(),
        }
    )
    unknown = out["entered_care_date"].isna().to_numpy()
    why = "the period of care began before the returns imported (no RNE S episode)"
    lost = out[unknown]
    rejections = [
        Rejection("adoptions", str(f), str(loc), "CHILD", str(c), why)
        for c, f, loc in zip(lost["child_id"], lost[FILE], lost[LOCATION], strict=True)
    ]
    return out[~unknown].reset_index(drop=True), rejections


@dataclasses.dataclass
class CarePeriods:
    """Runs of contiguous episodes per child: a period of care is one run."""

    runs: pd.DataFrame
    """child_id, start (the run's first DECOM), began (that episode's RNE is S)."""

    def period_start_at(self, child: pd.Series, when: pd.Series) -> pd.Series:
        """The start of the period of care holding ``when`` (NaT if it began before the data)."""
        left = pd.DataFrame({"child_id": child.to_numpy(), "when": when.to_numpy()})
        left["_at"] = np.arange(len(left))
        left = left.dropna(subset=["when"]).sort_values("when")
        right = self.runs.sort_values("start")
        joined = pd.merge_asof(
            left, right, left_on="when", right_on="start", by="child_id", direction="backward"
        )
        out = pd.Series(pd.NaT, index=range(len(child)), dtype="datetime64[ns]")
        known = joined["began"].fillna(False).astype(bool).to_numpy()
        out.iloc[joined["_at"].to_numpy()[known]] = joined["start"].to_numpy()[known]
        return pd.Series(out.to_numpy(), index=child.index)


def care_periods(episodes: pd.DataFrame) -> CarePeriods:
    """The runs of contiguous episodes (each starts where the one before ended)."""
    order = episodes.sort_values(["child_id", "start_date"])
    previous_end = order.groupby("child_id")["end_date"].shift(1)
    first = previous_end.isna() | (order["start_date"] != previous_end)
    runs = order[first.to_numpy()]
    return CarePeriods(
        pd.DataFrame(
            {
                "child_id": runs["child_id"].to_numpy(),
                "start": runs["start_date"].to_numpy(),
                "began": (runs["reason_new_episode"] == "S").to_numpy(),
            }
        )
    )


def review_due_dates(reviews: pd.DataFrame, episodes: pd.DataFrame, first_year: int) -> pd.Series:
    """Each review's due date by the Care Planning Regulations 2010, reg. 33 (schedule).

    The first review of a period of care is due 20 working days after it began, the second 3
    months after the first, each later one 6 months after the one before. A review whose
    predecessor the returns do not hold (its period began before the first year imported) cannot
    be placed on the schedule: its due date is its own date (docs/importing.md says so).
    """
    begun = care_periods(episodes).period_start_at(reviews["child_id"], reviews["review_date"])
    frame = pd.DataFrame(
        {"child": reviews["child_id"], "date": reviews["review_date"], "began": begun}
    ).sort_values(["child", "date"])
    frame["period"] = frame["began"].fillna(pd.Timestamp(0))
    group = frame.groupby(["child", "period"], sort=False)
    n = group.cumcount().to_numpy()
    previous = group["date"].shift(1)
    known = frame["began"].notna().to_numpy()
    # a period that began in the years imported has all its reviews in the returns
    complete = known & (frame["began"] >= year_start(first_year)).to_numpy()
    years = frame["date"].dt.year
    holidays = bank_holidays(int(years.min()) - 1, int(years.max()) + 1)
    first_due = np.busday_offset(
        frame["began"].fillna(frame["date"]).to_numpy().astype("datetime64[D]"),
        FIRST_REVIEW_WORKING_DAYS,
        roll="forward",
        holidays=np.array(holidays, dtype="datetime64[D]"),
    ).astype("datetime64[ns]")
    due = frame["date"].copy()
    due[(n == 0) & complete] = first_due[(n == 0) & complete]
    second = (n == 1) & complete
    due[second] = add_months(previous[second], 3)
    later = (n >= 2) | ((n == 1) & ~complete)
    due[later] = add_months(previous[later], 6)
    return due.reindex(reviews.index)


def finish(
    tables: dict[str, pd.DataFrame], reads: Sequence[ReturnRead]
) -> tuple[pd.DataFrame, list[Rejection]]:
    """After stacking: review due dates, then the adoptions, from all the years' episodes.

    Returns the adoptions (not yet in ``tables``: the writer stacks them with any existing
    ones) and the adoptions rejected.
    """
    _due_dates(tables)
    episodes = tables.get("cla_episodes")
    if episodes is None or episodes.empty:
        return pd.DataFrame(), []
    found = [r.pending["adoptions"] for r in reads if "adoptions" in r.pending]
    matches = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    return adoptions(episodes, matches)


def _due_dates(tables: dict[str, pd.DataFrame]) -> None:
    """Review due dates from all the years' episodes and reviews (returned reviews only)."""
    reviews, episodes = tables.get("cla_reviews"), tables.get("cla_episodes")
    if reviews is None or reviews.empty or episodes is None:
        return
    ours = (reviews[_stack.RANK] != _stack.EXISTING).to_numpy()
    if not ours.any():
        return
    first_year = int(reviews.loc[ours, _stack.YEAR].min())
    due = review_due_dates(reviews, episodes, first_year)
    reviews.loc[ours, "due_date"] = due[ours]


def read_ssda903(
    path: Path, *, year: int | None = None, today: dt.date | None = None
) -> ReturnRead:
    """One year's SSDA903 return at ``path`` (a CSV folder or the XML file) as extract tables.

    ``year`` (the collection year by its end) is found from the return's dates when not given.
    Raises :class:`ImportFailure` for a file that is not a 903 at all.
    """
    raw, digest = read_raw(path)
    if "header" not in raw:
        raise ImportFailure(f"{path}: the return has no header table (CHILD, SEX, DOB, ETHNIC)")
    year = year or _collection_year(raw, path, today or dt.date.today())
    rows = _Rows(year)
    tables = {"children": _children(raw["header"], rows)}
    read = {"children": len(raw["header"])}
    makers = {"episodes": _episodes, "reviews": _reviews, "missing": _missing}
    names = {"episodes": "cla_episodes", "reviews": "cla_reviews", "missing": "missing_episodes"}
    for part, make in makers.items():
        if part in raw:
            tables[names[part]] = make(raw[part], rows)
    if "missing" in raw:
        read["missing_episodes"] = int((_text(raw["missing"], "MISSING").str.upper() == "M").sum())
    for part in ("episodes", "reviews"):
        if part in raw:
            read[names[part]] = len(raw[part])
    if "oc3" in raw:
        tables["care_leavers"], tables["care_leaver_contacts"] = _care_leavers(raw["oc3"], rows)
        read["care_leavers"] = read["care_leaver_contacts"] = len(raw["oc3"])
    for name in list(tables):
        if name != "children" and "child_id" in tables[name]:
            tables[name] = _in_header(name, tables[name], tables["children"], rows)
    _check(tables, rows)
    pending = {"adoptions": _matches(raw["ad1"], rows)} if "ad1" in raw else {}
    return ReturnRead(
        "ssda903",
        path,
        year,
        None,
        digest,
        tables,
        read,
        _with_fields(rows.rejections, raw),
        rows.findings,
        pending,
    )


def _check(tables: dict[str, pd.DataFrame], rows: _Rows) -> None:
    """The contract's row rules and overlapping episodes, named by the return's fields."""
    for name, frame in list(tables.items()):
        kept, rejected = _stack.check_rows(
            contract.TABLES[name], _stack.typed(frame, contract.TABLES[name])
        )
        rows.rejections += rejected
        tables[name] = kept
    episodes = tables.get("cla_episodes")
    if episodes is not None and not episodes.empty:
        episodes = episodes.reset_index(drop=True)
        hits = _stack.overlapping(episodes, "start_date", "end_date")
        why = "overlaps another episode of the same child in this return"
        rows.reject(
            "cla_episodes", episodes.rename(columns={"start_date": "DECOM"}), "DECOM", hits, why
        )
        tables["cla_episodes"] = episodes[~hits]
