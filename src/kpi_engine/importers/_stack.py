"""Stacking years of returns into one table each: repeats merged, changes reported, contract kept.

See ``_common``'s docstring for the idea. Every step is vectorised over the whole table; only
the rows that are rejected or reported become Python objects.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kpi_engine import contract
from kpi_engine.importers._common import (
    FILE,
    LOCATION,
    Finding,
    Rejection,
    member,
    reject_rows,
    year_start,
)

RANK = "_rank"
"""Precedence of a row's source: the existing extract (-1), then the returns in year order."""
YEAR = "_year"
EXISTING = -1

DATED_KEYS: dict[str, tuple[str, str]] = {
    "cla_episodes": ("start_date", "end_date"),
    "referrals": ("referral_date", "closure_date"),
    "assessments": ("start_date", "completed_date"),
    "cin_plans": ("start_date", "end_date"),
    "cp_plans": ("start_date", "end_date"),
    "missing_episodes": ("start_datetime", "end_datetime"),
}
"""Tables whose key is derived from the child and a start date, with their start and end."""

NO_OVERLAP = ("cla_episodes",)
"""Tables where one child's records may not overlap in time."""

NOT_KNOWN: dict[tuple[str, str], str] = {("children", "sex"): "U"}
"""Codes that say "not known" (a blank 903 SEX, the census's 0 and 9): when years or returns
are merged they erase no known value and are no change (the 903 says U, the census M: M)."""


@dataclass
class Stacked:
    """One table stacked: its rows and what it took to get them."""

    frame: pd.DataFrame
    merged: int = 0
    replaced: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    """Old key -> new key, for records whose start date changed (referrers follow)."""


def typed(frame: pd.DataFrame, table: contract.Table) -> pd.DataFrame:
    """``frame`` with each contract column in one dtype per type, so sources concatenate."""
    out = frame.copy()
    for column in table.columns:
        if column.name not in out:
            out[column.name] = pd.Series(np.nan, index=out.index)
        series = out[column.name]
        if column.type == "string":
            if isinstance(series.dtype, pd.CategoricalDtype):
                series = series.astype(object)
            out[column.name] = series.astype("str")
        elif column.type in ("date", "datetime", "month"):
            out[column.name] = pd.to_datetime(series).astype("datetime64[ns]")
        elif column.type == "bool":
            out[column.name] = series.astype("boolean")
        elif column.type == "int":
            out[column.name] = pd.to_numeric(series).astype("Int64")
        else:
            out[column.name] = pd.to_numeric(series).astype("float64")
    for extra in (FILE, LOCATION):
        if extra not in out:
            out[extra] = ""
    return out


def _show(values: pd.Series) -> list[str]:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        text = values.dt.strftime("%Y-%m-%d")
    else:
        text = values.astype("str")
    return ["" if v in ("nan", "NaT", "<NA>", "None") else v for v in text.fillna("").tolist()]


def _findings(
    table: str,
    records: pd.Series,
    column: str,
    earlier: pd.DataFrame,
    later: pd.DataFrame,
    message: str,
) -> list[Finding]:
    rows = zip(
        records.astype("str").tolist(),
        _show(earlier[column]),
        _show(later[column]),
        earlier[FILE].astype("str").tolist(),
        later[FILE].astype("str").tolist(),
        strict=True,
    )
    return [Finding(table, r, column, a, b, fa, fb, message) for r, a, b, fa, fb in rows]


def within_return_repeats(frame: pd.DataFrame, table: contract.Table, stacked: Stacked) -> None:
    """Repeats of a key inside one return: identical ones merged, others rejected."""
    key = table.key
    if key is None or frame.empty:
        stacked.frame = frame
        return
    repeat = frame.duplicated([RANK, key], keep="first").to_numpy()
    if not repeat.any():
        stacked.frame = frame
        return
    columns = list(table.column_names)
    identical = frame.duplicated([RANK, *columns], keep="first").to_numpy()
    first_at = frame.groupby([RANK, key], sort=False)[LOCATION].transform("first")
    different = repeat & ~identical
    stacked.merged += int((repeat & identical).sum())
    stacked.rejections += reject_rows(
        table.name,
        "",
        frame[LOCATION],
        key,
        frame[key],
        different,
        "repeats the record at " + first_at.astype("str") + " with other values",
    )
    _name_files(stacked.rejections, frame, different)
    stacked.frame = frame[~repeat]


def _name_files(rejections: list[Rejection], frame: pd.DataFrame, mask: np.ndarray) -> None:
    """Fill in the file of rejections made with file "" from the rows' own ``_file``."""
    files = frame[FILE].astype("str").to_numpy()[mask].tolist()
    blanks = [i for i, r in enumerate(rejections) if r.file == ""]
    for i, name in zip(blanks, files, strict=False):
        r = rejections[i]
        rejections[i] = Rejection(r.table, name, r.location, r.field, r.value, r.reason)


def moved_starts(table: contract.Table, stacked: Stacked) -> None:
    """Records whose start date changed between consecutive returns: the later one is kept."""
    frame = stacked.frame
    key = table.key
    if table.name not in DATED_KEYS or key is None:
        return
    start, end = DATED_KEYS[table.name]
    ranks = sorted(r for r in frame[RANK].unique() if r != EXISTING)
    dropped_index: list[object] = []
    for earlier_rank, later_rank in itertools.pairwise(ranks):
        earlier = frame[frame[RANK] == earlier_rank]
        later = frame[frame[RANK] == later_rank]
        opens = year_start(int(later[YEAR].iloc[0]))
        carried = earlier[end].isna() | (earlier[end] >= opens)
        lost = earlier[
            carried.to_numpy()
            & ~member(earlier[key], later[key])
            & member(earlier["child_id"], later["child_id"])
        ]
        found = later[
            (later[start] < opens)
            & ~member(later[key], earlier[key])
            & member(later["child_id"], earlier["child_id"])
        ]
        pairs = _pair(lost, found, start)
        old, new = lost.loc[pairs[0]], found.loc[pairs[1]]
        stacked.findings += _findings(
            table.name,
            new[key],
            start,
            old,
            new,
            "start date changed between returns (the later kept)",
        )
        stacked.renamed.update(zip(old[key].tolist(), new[key].tolist(), strict=True))
        dropped_index += list(pairs[0])
        unmatched = lost.drop(index=pairs[0])
        stacked.findings += _findings(
            table.name,
            unmatched[key],
            end,
            unmatched,
            unmatched,
            "open in one return, absent from the next (kept as last returned)",
        )
    stacked.merged += int(np.count_nonzero(frame.loc[dropped_index, RANK].to_numpy() != EXISTING))
    stacked.frame = frame.drop(index=dropped_index)


def _pair(lost: pd.DataFrame, found: pd.DataFrame, start: str) -> tuple[pd.Index, pd.Index]:
    """Lost and found records of the same child, paired in start-date order."""
    if lost.empty or found.empty:
        return lost.index[:0], found.index[:0]
    left = lost.sort_values(["child_id", start])
    right = found.sort_values(["child_id", start])
    left = left.assign(_n=left.groupby("child_id").cumcount(), _i=left.index)
    right = right.assign(_n=right.groupby("child_id").cumcount(), _i=right.index)
    joined = left[["child_id", "_n", "_i"]].merge(
        right[["child_id", "_n", "_i"]], on=["child_id", "_n"], suffixes=("_old", "_new")
    )
    return pd.Index(joined["_i_old"]), pd.Index(joined["_i_new"])


def merge_years(table: contract.Table, stacked: Stacked) -> None:
    """One row per key: the latest non-empty value of each column; changed values reported."""
    frame = stacked.frame
    key = table.key
    if key is None:
        return
    frame = frame.sort_values([key, RANK], kind="stable")
    repeated = frame[key].duplicated(keep=False).to_numpy()
    if not repeated.any():
        stacked.frame = frame
        return
    group = frame[repeated].copy()
    for (name, column), code in NOT_KNOWN.items():
        if name == table.name:
            group[column] = group[column].mask(group[column] == code)
    nxt = group.shift(-1)
    same = (group[key] == nxt[key]).to_numpy()
    earlier, later = group[same], nxt[same]
    for column in table.column_names:
        if column == key:
            continue
        changed = earlier[column].notna() & later[column].notna()
        changed &= (earlier[column] != later[column]).fillna(False).astype(bool)
        if changed.any():
            stacked.findings += _findings(
                table.name,
                earlier.loc[changed, key],
                column,
                earlier[changed],
                later[changed],
                "changed between returns (the later kept)",
            )
    groups = group.groupby(key, sort=False)
    # the latest non-empty value of each column: a later return's missing value erases nothing
    merged = groups.last()
    merged[key] = merged.index
    merged[RANK] = groups[RANK].max().to_numpy()
    for (name, column), code in NOT_KNOWN.items():
        if name == table.name:
            merged[column] = merged[column].fillna(code)  # known in no return: not known
    merged = merged.reset_index(drop=True)
    with_existing = groups[RANK].min().to_numpy() == EXISTING
    stacked.replaced += int(with_existing.sum())
    stacked.merged += int(len(group) - len(merged) - with_existing.sum())
    stacked.frame = pd.concat([frame[~repeated], merged[frame.columns]], ignore_index=True)


def stack_table(table: contract.Table, frames: Sequence[pd.DataFrame]) -> Stacked:
    """Stack one table's frames (each with ``_rank`` and ``_year``) into one."""
    frame = pd.concat([typed(f, table) for f in frames], ignore_index=True)
    stacked = Stacked(frame)
    within_return_repeats(frame.reset_index(drop=True), table, stacked)
    moved_starts(table, stacked)
    merge_years(table, stacked)
    stacked.frame = stacked.frame.reset_index(drop=True)
    return stacked


def check_rows(table: contract.Table, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Rejection]]:
    """The rows that keep the contract's row rules (values present, codes known, end ≥ start).

    Readers check their fields as they read, naming the return's fields; this catches whatever
    else would make ``kpi validate`` fail, in the contract's words.
    """
    rejections: list[Rejection] = []
    bad = np.zeros(len(frame), dtype=bool)

    def rule(column: str, mask: pd.Series, reason: str | pd.Series) -> None:
        nonlocal bad
        hits = mask.fillna(False).to_numpy(dtype=bool)
        if hits.any():
            found = reject_rows(
                table.name, "", frame[LOCATION], column, frame[column], hits, reason
            )
            _name_files(found, frame, hits)
            rejections.extend(found)
            bad |= hits

    for column in table.columns:
        values = frame[column.name]
        if not column.nullable:
            rule(column.name, values.isna(), "missing (the extract needs a value)")
        if column.codes is not None:
            rule(
                column.name,
                values.notna() & ~values.isin(column.codes),
                _not_a_code(column),
            )
    if table.start_end is not None:
        start, end = table.start_end
        rule(end, frame[end] < frame[start], f"ends before it starts ({start} is later)")
    return frame[~bad], rejections


def _not_a_code(column: contract.Column) -> str:
    codes = column.codes or ()
    if len(codes) <= 8:
        return f"not a {column.name} code (expected one of {', '.join(codes)})"
    # long lists (27 placement types) are named by their ends: the message stays readable
    span = f"{codes[0]} ... {codes[-1]}, {len(codes)} codes"
    return f"not a {column.name} code (expected one of {span})"


def overlapping(frame: pd.DataFrame, start: str, end: str) -> np.ndarray:
    """Rows that begin before an earlier-starting record of the same child has ended."""
    order = frame.sort_values(["child_id", start], kind="stable")
    ends = order[end].fillna(pd.Timestamp.max).astype("datetime64[ns]")
    # the latest end so far among the child's earlier records (an open record never ends)
    reach = ends.groupby(order["child_id"], sort=False).cummax()
    before = reach.groupby(order["child_id"], sort=False).shift(1)
    hits = (order[start] < before).fillna(False).to_numpy(dtype=bool)
    mask = np.zeros(len(frame), dtype=bool)
    mask[frame.index.get_indexer(order.index[hits])] = True
    return mask


def check_across(
    tables: dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], dict[str, list[Rejection]], dict[str, int]]:
    """Rules across rows and tables, on the stacked tables: overlaps, then references.

    Only the returns' rows are judged: rows of an existing extract were checked when it was
    written, and the loader only warns about its dangling references.
    """
    rejections: dict[str, list[Rejection]] = {}
    counts: dict[str, int] = {}
    out = dict(tables)
    for name in NO_OVERLAP:
        if name not in out:
            continue
        frame = out[name]
        start, end = DATED_KEYS[name]
        hits = overlapping(frame, start, end) & (frame[RANK] != EXISTING).to_numpy()
        _drop(out, name, hits, start, "overlaps another episode of the same child", rejections)
        counts[name] = counts.get(name, 0) + int(hits.sum())
    # referenced tables first, so a row rejected there takes its referrers with it
    order = sorted(out, key=lambda n: (n not in ("children", "care_leavers", "referrals"), n))
    for name in order:
        table = contract.TABLES[name]
        for column in table.columns:
            target = column.references
            if target is None or target not in out or column.name not in out[name]:
                continue
            target_key = contract.TABLES[target].key
            frame = out[name]
            known = out[target][target_key]
            hits = frame[column.name].notna().to_numpy() & ~member(frame[column.name], known)
            hits = hits & (frame[RANK] != EXISTING).to_numpy()
            reason = f"no such {target_key} in {target}"
            if name == "cla_episodes" or target == "children":
                reason = f"no such {target_key} in {target} (the child has no header record)"
            _drop(out, name, hits, column.name, reason, rejections)
            counts[name] = counts.get(name, 0) + int(hits.sum())
    return out, rejections, counts


def _drop(
    tables: dict[str, pd.DataFrame],
    name: str,
    hits: np.ndarray,
    column: str,
    reason: str,
    rejections: dict[str, list[Rejection]],
) -> None:
    if not hits.any():
        return
    frame = tables[name]
    found = reject_rows(name, "", frame[LOCATION], column, frame[column], hits, reason)
    _name_files(found, frame, hits)
    rejections.setdefault(name, []).extend(found)
    tables[name] = frame[~hits].reset_index(drop=True)
