"""Computing the derived fields and derived tables declared in ``kpi_engine.derived``.

Each function implements one statutory rule, vectorised: sort once, compare each row with its
neighbour in the same child's history (``shift`` within a group), join with ``merge`` or
``merge_asof``. The rules in words are in ``derived.py`` (what ``kpi validate`` and the docs show);
the comments here say how and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from kpi_engine import calendar, contract, derived, intervals, keys
from kpi_engine._sorting import order_by

Tables = Mapping[str, pd.DataFrame]


class MissingTableError(LookupError):
    """A derivation needs an extract table the extract does not hold."""

    def __init__(self, table: str) -> None:
        super().__init__(f"needs table {table}, absent from the extract")
        self.table = table


def _require(tables: Tables, *names: str) -> None:
    for name in names:
        if name not in tables:
            raise MissingTableError(name)


def _truthy(column: pd.Series) -> np.ndarray:
    """A nullable boolean column as plain bools, null read as false."""
    return column.fillna(False).to_numpy(dtype=bool)


def _order(group: np.ndarray, days: np.ndarray, tie: pd.Series) -> np.ndarray:
    """Positions ordering rows by group code, then day, then the id ``tie``.

    One packed integer key sorts fast; rows that tie on group and day (rare) are then ordered
    by their id, so the result never depends on the extract's row order. Only the tied rows'
    ids are read: turning millions of ids into strings would cost more than the sort.
    """
    order = order_by(group, intervals.sortable(days))
    g, d = group[order], days[order]
    same = (g[1:] == g[:-1]) & (d[1:] == d[:-1])
    if same.any():
        tied = np.zeros(len(order), dtype=bool)
        tied[1:] |= same
        tied[:-1] |= same
        at = np.flatnonzero(tied)
        ids = np.asarray(tie.iloc[order[at]].astype("str").to_numpy(dtype=object))
        rank = pd.factorize(ids, sort=True)[0]
        # each run of equal keys keeps its place; within it, rows go in id order
        order[at] = order[at][order_by(g[at], d[at], rank)]
    return order


def _sorted(frame: pd.DataFrame, key: str, date: str, tie: str) -> np.ndarray:
    """Row positions ordering ``frame`` by key, then date, then the id ``tie``."""
    (group,) = keys.codes(frame[key])
    return _order(group, intervals.start_days(frame[date]), frame[tie])


def _neighbours(group: np.ndarray, order: np.ndarray, values: np.ndarray, step: int) -> np.ndarray:
    """``values`` of each row's neighbour in ``order`` within its group (NaT/NaN if none).

    ``step`` 1 is the previous row, -1 the next. Returned in the rows' own order.
    """
    g = group[order]
    v = values[order]
    shifted = np.empty_like(v)
    same = np.zeros(len(order), dtype=bool)
    if len(order):
        if step > 0:
            shifted[1:], same[1:] = v[:-1], g[1:] == g[:-1]
        else:
            shifted[:-1], same[:-1] = v[1:], g[:-1] == g[1:]
    missing = np.datetime64("NaT") if v.dtype.kind == "M" else np.nan
    shifted = np.where(same, shifted, missing)
    out = np.empty_like(shifted)
    out[order] = shifted
    return out


def _neighbour_in_group(
    frame: pd.DataFrame, key: str, date: str, tie: str, value: str, step: int
) -> pd.Series:
    """For each row, ``value`` of the same key's neighbouring row in date order.

    ``step`` 1 is the previous row, -1 the next; null where there is none.
    """
    (group,) = keys.codes(frame[key])
    order = _order(group, intervals.start_days(frame[date]), frame[tie])
    values = frame[value].to_numpy(dtype="datetime64[ns]")
    return pd.Series(_neighbours(group, order, values, step), index=frame.index)


def _previous_in_group(frame: pd.DataFrame, key: str, date: str, tie: str, value: str) -> pd.Series:
    """For each row, ``value`` of the same key's previous row in date order (null if first)."""
    return _neighbour_in_group(frame, key, date, tie, value, 1)


def _next_in_group(frame: pd.DataFrame, key: str, date: str, tie: str, value: str) -> pd.Series:
    """For each row, ``value`` of the same key's next row in date order (null if last)."""
    return _neighbour_in_group(frame, key, date, tie, value, -1)


def _lookup(
    frame: pd.DataFrame, key: str, other: pd.DataFrame, other_key: str, column: str
) -> pd.Series:
    """``column`` of ``other`` for each row's ``key`` (null where it does not resolve)."""
    source = other[column]
    if not len(other):
        return pd.Series([None] * len(frame), index=frame.index, dtype=source.dtype)
    positions = keys.positions(frame[key], other[other_key])
    found = positions >= 0
    values = source.iloc[np.where(found, positions, 0)]
    return pd.Series(values.to_numpy(), index=frame.index).where(found)


# --- referrals, CP plans, CP visits ---------------------------------------------------------------


def _previous_referral_date(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    return _previous_in_group(frame, "child_id", "referral_date", "referral_id", "referral_date")


def _previous_plan_end_date(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    return _previous_in_group(frame, "child_id", "start_date", "cp_plan_id", "end_date")


def _previous_plan_start_date(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    return _previous_in_group(frame, "child_id", "start_date", "cp_plan_id", "start_date")


def _visit_plans(visits: pd.DataFrame, plans: pd.DataFrame) -> np.ndarray:
    """For each visit, the row of the plan it falls in, or -1.

    The plan is the child's latest plan started on or before the visit, if still open then (a
    visit on the day a plan ends belongs to it). A binary search over plans sorted by one packed
    (child, start day) key does for millions of visits what a row-by-row lookup cannot.
    """
    visit_child, plan_child = keys.codes(visits["child_id"], plans["child_id"])
    plan_start = intervals.start_days(plans["start_date"])
    plan_end = intervals.end_days(plans["end_date"])
    by_start = order_by(plan_child, intervals.sortable(plan_start))
    plan_keys = intervals.pack(plan_child, plan_start)[by_start]
    visit_day = intervals.start_days(visits["visit_date"])
    found = np.searchsorted(plan_keys, intervals.pack(visit_child, visit_day), side="right") - 1
    candidate = by_start[np.maximum(found, 0)]
    inside = (
        (found >= 0)
        & (plan_child[candidate] == visit_child)
        & (plan_start[candidate] > intervals.EARLIEST_DAY)
        & (visit_day > intervals.EARLIEST_DAY)
        & (visit_day <= plan_end[candidate])
    )
    plan: np.ndarray = np.where(inside, candidate, -1)
    return plan


def _previous_visit_date(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    _require(tables, "cp_plans")
    plans = tables["cp_plans"]
    plan = _visit_plans(frame, plans)
    visit_date = frame["visit_date"].to_numpy(dtype="datetime64[ns]")
    order = _order(plan, intervals.start_days(visit_date), frame["visit_id"])
    previous = _neighbours(plan, order, visit_date, 1)
    # The first visit of a plan is measured from the plan's start; outside any plan, null.
    plan_start = plans["start_date"].to_numpy(dtype="datetime64[ns]")
    first = np.isnat(previous) & (plan >= 0)
    previous[first] = plan_start[plan[first]]
    previous[plan < 0] = np.datetime64("NaT")
    return pd.Series(previous, index=frame.index)


# --- looked-after episodes ----------------------------------------------------------------------


def _episode_history(frame: pd.DataFrame) -> pd.DataFrame:
    """Placements, periods of care and care spells for every episode, in the frame's row order.

    Episodes are read in each child's date order. The columns returned:
    ``new_placement``, ``placement_start_date``, ``placement_before_previous_end_date``,
    ``period_of_care_start_date``, ``care_spell_start_date``, ``stability_start_date``.
    """
    n = len(frame)
    order = _sorted(frame, "child_id", "start_date", "episode_id")
    # Codes and flags (hash-based isin) rather than strings: numpy compares ints quickly.
    child = keys.codes(frame["child_id"])[0][order]
    start = frame["start_date"].to_numpy(dtype="datetime64[ns]")[order]
    end = frame["end_date"].to_numpy(dtype="datetime64[ns]")[order]
    ptype = keys.codes(frame["placement_type"])[0][order]
    provider = keys.codes(frame["placement_provider"])[0][order]

    def flag(column: str, codes: tuple[str, ...]) -> np.ndarray:
        found: np.ndarray = frame[column].isin(codes).to_numpy(dtype=bool)[order]
        return found

    starts_care = flag("reason_new_episode", ("S",))
    moves = flag("reason_new_episode", ("S", "P", "B"))
    temporary = flag("placement_type", contract.TEMPORARY_PLACEMENT_TYPES)
    with_current_carer = flag("placement_type", contract.ADOPTION_WITH_CURRENT_CARER)
    adoption = flag("placement_type", ("A3", "A4", "A5", "A6"))
    short = flag("legal_status", contract.SHORT_BREAK_LEGAL_STATUS)

    first_of_child = np.ones(n, dtype=bool)
    first_of_child[1:] = child[1:] != child[:-1]

    def previous(values: np.ndarray, fill: object) -> np.ndarray:
        out = np.empty_like(values)
        if n:
            out[0] = fill
            out[1:] = values[:-1]
            out[first_of_child] = fill
        return out

    prev_end = previous(end, np.datetime64("NaT"))
    # A period of care is a run of contiguous episodes; reason S (started to be looked after)
    # or a gap after the previous episode's end starts a new one.
    new_period = first_of_child | starts_care | np.isnat(prev_end) | (start != prev_end)
    period_id = np.cumsum(new_period) - 1
    period_start = start[np.flatnonzero(new_period)][period_id] if n else start

    prev_temporary = previous(temporary, False)
    # The placement before a temporary absence: type and provider two episodes back.
    prev2_type = previous(previous(ptype, -2), -2)
    prev2_provider = previous(previous(provider, -2), -2)
    returning = prev_temporary & ~new_period & (ptype == prev2_type) & (provider == prev2_provider)
    candidate = new_period | (moves & ~temporary & ~returning & ~with_current_carer)

    # Group episodes into placements, then drop placements that lasted under 24 hours (a
    # same-day start and end): they are not placements for NI 62 and join the one before.
    group_first = np.flatnonzero(candidate)
    end_or_open = np.where(np.isnat(end), np.datetime64("2200-01-01", "ns"), end)
    group_end = (
        np.maximum.reduceat(end_or_open.view("int64"), group_first).view("datetime64[ns]")
        if n
        else end_or_open
    )
    brief = group_end == start[group_first]
    counted_group = candidate[group_first] & ~brief & ~temporary[group_first]
    new_placement = np.zeros(n, dtype=bool)
    new_placement[group_first[counted_group]] = True

    boundary = new_placement | new_period
    placement = np.cumsum(boundary) - 1
    placement_first = np.flatnonzero(boundary)
    placement_start = start[placement_first][placement] if n else start
    placement_end = (
        np.maximum.reduceat(end_or_open.view("int64"), placement_first).view("datetime64[ns]")
        if n
        else end_or_open
    )
    placement_child = child[placement_first]
    placement_counted = new_placement[placement_first]

    # NI 62: the end of the counted placement two before the episode's current one.
    counted_index = np.flatnonzero(placement_counted)
    counted_child = placement_child[counted_index]
    counted_end = placement_end[counted_index]
    two_before = np.full(len(counted_index), np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(counted_index) > 2:
        same = counted_child[2:] == counted_child[:-2]
        two_before[2:] = np.where(same, counted_end[:-2], np.datetime64("NaT"))
    # Each placement's latest counted placement at or before it (within the child).
    seq = np.cumsum(placement_counted) - 1
    has_counted = seq >= 0
    owner = np.where(has_counted, seq, 0)
    same_child = has_counted & (
        counted_child[owner] == placement_child if len(counted_index) else False
    )
    before_previous = np.full(len(placement_first), np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(counted_index):
        before_previous[same_child] = two_before[owner[same_child]]
    before_previous[before_previous >= np.datetime64("2200-01-01", "ns")] = np.datetime64("NaT")

    # NI 63: placed for adoption (A3-A6) counts together with the placement before it.
    placement_prev_start = np.full(len(placement_first), np.datetime64("NaT"), "datetime64[ns]")
    if len(placement_first) > 1:
        same = placement_child[1:] == placement_child[:-1]
        placement_prev_start[1:] = np.where(same, start[placement_first[:-1]], np.datetime64("NaT"))
    prev_start = placement_prev_start[placement] if n else start
    stability = np.where(adoption & ~np.isnat(prev_start), prev_start, placement_start)

    # NI 63: a short break (V3/V4) episode breaks the continuous spell of care.
    new_spell = new_period | (short != previous(short, False))
    spell = np.cumsum(new_spell) - 1
    spell_start = start[np.flatnonzero(new_spell)][spell] if n else start
    spell_start = np.where(short, np.datetime64("NaT"), spell_start)

    columns = {
        "new_placement": new_placement,
        "placement_start_date": placement_start,
        "placement_before_previous_end_date": before_previous[placement] if n else start,
        "period_of_care_start_date": period_start,
        "care_spell_start_date": spell_start,
        "stability_start_date": stability,
    }
    out = pd.DataFrame(index=np.arange(n))
    for name, values in columns.items():
        restored = np.empty_like(values)
        restored[order] = values
        out[name] = restored
    out.index = frame.index
    return out


def _care_ladder_category(frame: pd.DataFrame) -> np.ndarray:
    ptype, provider = frame["placement_type"], frame["placement_provider"]
    residential = ptype.isin(("K2", "R1")).to_numpy(dtype=bool)
    fostering = ptype.isin(("U1", "U2", "U3", "U4", "U5", "U6")).to_numpy(dtype=bool)
    own = (provider == "PR1").fillna(False).to_numpy(dtype=bool)  # the trust's own provision
    independent = provider.isin(("PR4", "PR5")).to_numpy(dtype=bool)
    return np.select(
        [
            residential & ~own,
            residential & own,
            fostering & independent,
            fostering & own,
        ],
        [
            "out_of_authority_residential",
            "internal_residential",
            "independent_fostering",
            "trust_foster_carers",
        ],
        default="other",
    ).astype(object)


def _episode_field(name: str) -> Callable[[pd.DataFrame, Tables], pd.Series]:
    def compute(frame: pd.DataFrame, tables: Tables) -> pd.Series:
        return _episode_history(frame)[name]

    return compute


def _child_date_of_birth(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    _require(tables, "children")
    dob = _lookup(frame, "child_id", tables["children"], "child_id", "date_of_birth")
    return dob.astype("datetime64[ns]")


def _staff_field(column: str) -> Callable[[pd.DataFrame, Tables], pd.Series]:
    def compute(frame: pd.DataFrame, tables: Tables) -> pd.Series:
        _require(tables, "staff")
        values = _lookup(frame, "staff_id", tables["staff"], "staff_id", column)
        kind = tables["staff"][column].dtype
        return values.astype(kind) if str(kind) != "object" else values

    return compute


def _next_supervision_date(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    return _next_in_group(
        frame, "staff_id", "supervision_date", "supervision_id", "supervision_date"
    )


def _young_person_date_of_birth(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    _require(tables, "yos_cohort")
    cohort = tables["yos_cohort"]
    dob = _lookup(frame, "young_person_id", cohort, "young_person_id", "date_of_birth")
    return dob.astype("datetime64[ns]")


_FIELDS: dict[tuple[str, str], Callable[[pd.DataFrame, Tables], pd.Series]] = {
    ("referrals", "previous_referral_date"): _previous_referral_date,
    ("cp_plans", "previous_plan_end_date"): _previous_plan_end_date,
    ("cp_plans", "previous_plan_start_date"): _previous_plan_start_date,
    ("cp_visits", "previous_visit_date"): _previous_visit_date,
    ("cla_episodes", "date_of_birth"): _child_date_of_birth,
    ("cla_episodes", "care_ladder_category"): lambda f, t: pd.Series(
        _care_ladder_category(f), index=f.index
    ),
    ("supervisions", "staff_frontline"): _staff_field("frontline"),
    ("supervisions", "staff_caseholding"): _staff_field("caseholding"),
    ("supervisions", "staff_end_date"): _staff_field("end_date"),
    ("supervisions", "next_supervision_date"): _next_supervision_date,
    ("allocations", "staff_qualified_social_worker"): _staff_field("qualified_social_worker"),
    ("allocations", "staff_caseholding"): _staff_field("caseholding"),
    ("yos_disposals", "date_of_birth"): _young_person_date_of_birth,
}
_EPISODE_HISTORY = (
    "new_placement",
    "placement_start_date",
    "placement_before_previous_end_date",
    "period_of_care_start_date",
    "care_spell_start_date",
    "stability_start_date",
)
for _name in _EPISODE_HISTORY:
    _FIELDS[("cla_episodes", _name)] = _episode_field(_name)


def add_derived_fields(
    table: str, frame: pd.DataFrame, tables: Tables, names: Sequence[str]
) -> pd.DataFrame:
    """``frame`` (extract table ``table``) with the named derived fields added as columns."""
    declared = derived.derived_fields_for(table)
    out = frame.copy(deep=False)  # new columns only; copy-on-write guards the extract's own
    wanted = list(dict.fromkeys(names))
    history = [n for n in wanted if table == "cla_episodes" and n in _EPISODE_HISTORY]
    if history:  # one pass over the episodes serves every history field
        computed = _episode_history(frame)
        for name in history:
            out[name] = computed[name]
    for name in wanted:
        if name in history:
            continue
        if name not in declared or (table, name) not in _FIELDS:
            raise KeyError(f"no derived field {table}.{name}")
        _require(tables, *declared[name].needs)
        out[name] = _FIELDS[(table, name)](frame, tables)
    return out


# --- derived tables -------------------------------------------------------------------------------


def _nearest_contact(base: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """Each birthday's status on the contact nearest it, 3 months before to 1 month after.

    ``base`` holds ``child_id`` (text) and ``birthday``; the result has ``contact_date``,
    ``in_touch``, ``activity``, ``eet`` and ``accommodation_suitable``, in ``base``'s row order.
    No contact in the window: not in touch, and neither EET nor suitably housed.
    """
    row = np.arange(len(base))
    window_start = calendar.add_months(base["birthday"], -3).to_numpy()
    window_end = calendar.add_months(base["birthday"], 1).to_numpy()
    found = pd.DataFrame(
        {
            "child_id": contacts["child_id"].astype(str).to_numpy(),
            "contact_date": contacts["contact_date"].to_numpy(dtype="datetime64[ns]"),
            "contact_id": contacts["contact_id"].astype(str).to_numpy(),
            "in_touch": _truthy(contacts["in_touch"]),
            "activity": contacts["activity"].to_numpy(dtype=object),
            "accommodation_suitable": _truthy(contacts["accommodation_suitable"]),
        }
    )
    # Each child has a handful of contacts, so pairing every birthday with every contact of the
    # same child stays small; then keep those in the window and the nearest of them.
    birthdays = pd.DataFrame(
        {"row": row, "child_id": base["child_id"].to_numpy(), "birthday": base["birthday"]}
    )
    pairs = birthdays.merge(found, on="child_id")
    at = pairs["row"].to_numpy()
    pairs = pairs[
        (pairs["contact_date"].to_numpy() >= window_start[at])
        & (pairs["contact_date"].to_numpy() <= window_end[at])
    ]
    pairs = pairs.assign(distance=(pairs["contact_date"] - pairs["birthday"]).abs())
    # Nearest first; on a tie the later contact (the more recent status) wins.
    pairs = pairs.sort_values(
        ["row", "distance", "contact_date", "contact_id"], ascending=[True, True, False, True]
    )
    status = pairs.drop_duplicates("row").set_index("row").reindex(row)
    in_touch = status["in_touch"].fillna(False).to_numpy(dtype=bool)
    activity = status["activity"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "contact_date": status["contact_date"].to_numpy(dtype="datetime64[ns]"),
            "in_touch": in_touch,
            "activity": activity,
            "eet": in_touch & np.isin(activity.astype(str), contract.EET_ACTIVITY),
            "accommodation_suitable": in_touch
            & status["accommodation_suitable"].fillna(False).to_numpy(dtype=bool),
        }
    )


def _care_leaver_birthdays(tables: Tables, built: Tables) -> pd.DataFrame:
    leavers = tables["care_leavers"]
    ages = (19, 20, 21)
    base = pd.DataFrame(
        {
            "child_id": np.repeat(leavers["child_id"].astype(str).to_numpy(), len(ages)),
            "age": np.tile(np.array(ages, dtype=float), len(leavers)),
            "date_of_birth": np.repeat(
                leavers["date_of_birth"].to_numpy(dtype="datetime64[ns]"), len(ages)
            ),
            "qualifying": np.repeat(_truthy(leavers["qualifying"]), len(ages)),
        }
    )
    base["birthday"] = calendar.add_months(base["date_of_birth"], base["age"] * 12)
    status = _nearest_contact(base, tables["care_leaver_contacts"])
    return pd.concat(
        [base[["child_id", "age", "birthday", "qualifying"]].astype({"child_id": object}), status],
        axis=1,
    )


_COHORT_AGE = 16
"""'Looked after ... on 1 April in their 17th year': the 1 April on which they were 16."""


def _first_april_at(dates: np.ndarray) -> np.ndarray:
    """The first 1 April on or after each date."""
    april = dates.astype("datetime64[Y]").astype("datetime64[M]") + 3
    april_day = april.astype("datetime64[D]")
    later = april_day < dates.astype("datetime64[D]")
    return np.where(later, (april + 12).astype("datetime64[D]"), april_day)


def _looked_after_on(child: pd.Series, day: np.ndarray, episodes: pd.DataFrame) -> np.ndarray:
    """Whether each child was looked after on ``day``, under a legal status other than V3/V4.

    Open on the day as everywhere in the engine: started on or before it, not yet ended.
    """
    want, have = keys.codes(child, episodes["child_id"])
    counted = ~episodes["legal_status"].isin(contract.SHORT_BREAK_LEGAL_STATUS).to_numpy(bool)
    pairs = pd.DataFrame({"code": want, "row": np.arange(len(want))}).merge(
        pd.DataFrame(
            {
                "code": have[counted],
                "start": intervals.start_days(episodes["start_date"])[counted],
                "end": intervals.end_days(episodes["end_date"])[counted],
            }
        ),
        on="code",
    )
    on_day = day.astype("datetime64[D]").astype(np.int64)[pairs["row"].to_numpy()]
    inside = (
        (pairs["code"].to_numpy() >= 0)
        & (pairs["start"].to_numpy() <= on_day)
        & (pairs["end"].to_numpy() > on_day)
    )
    out = np.zeros(len(want), dtype=bool)
    out[pairs["row"].to_numpy()[inside]] = True
    return out


def _care_leaver_19th_birthdays(tables: Tables, built: Tables) -> pd.DataFrame:
    leavers = tables["care_leavers"]
    dob = leavers["date_of_birth"].reset_index(drop=True)
    sixteenth = calendar.add_months(dob, _COHORT_AGE * 12).to_numpy(dtype="datetime64[ns]")
    census = _first_april_at(sixteenth)
    cohort = _looked_after_on(leavers["child_id"], census, tables["cla_episodes"])
    base = pd.DataFrame(
        {
            "child_id": leavers["child_id"].astype(str).to_numpy()[cohort],
            "birthday": calendar.add_months(dob[cohort].reset_index(drop=True), 19 * 12),
        }
    )
    status = _nearest_contact(base, tables["care_leaver_contacts"])
    return pd.concat([base.astype({"child_id": object}), status], axis=1)


def _spells(frame: pd.DataFrame, start: str, end: str) -> intervals.Spells:
    return intervals.spells(frame["child_id"], frame[start], frame[end])


def _cp_cla(tables: Tables) -> intervals.Spells:
    return intervals.union(
        _spells(tables["cp_plans"], "start_date", "end_date"),
        _spells(tables["cla_episodes"], "start_date", "end_date"),
    )


def _cp_cla_spells(tables: Tables, built: Tables) -> pd.DataFrame:
    return _cp_cla(tables).frame()


def _cp_cla_qsw_spells(tables: Tables, built: Tables) -> pd.DataFrame:
    allocations = tables["allocations"]
    qualified = _staff_field("qualified_social_worker")(allocations, tables)
    allocated = allocations[qualified.fillna(False).to_numpy(dtype=bool)]
    return intervals.intersect(
        _cp_cla(tables), _spells(allocated, "start_date", "end_date")
    ).frame()


_VISIT_DUE_DAYS = 14  # the service's 2-weekly CP visiting expectation (year-1 A4)
_PLAN_GRACE_DAYS = 28  # "on a plan for more than 28 days"


def _plan_visits(tables: Tables) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every CP visit inside a plan: (plan row, visit day), and every plan's start and end day.

    Year-1 A4 counts any visit, whether or not the child was seen (seed 001 lines 1981 and
    1985: "the element of child being seen" is what the year-2 revision adds).
    """
    plans = tables["cp_plans"]
    visits = tables["cp_visits"]
    visit_plan = _visit_plans(visits, plans)
    in_plan = visit_plan >= 0
    visit_day = intervals.start_days(visits["visit_date"])[in_plan]
    return (
        visit_plan[in_plan],
        visit_day,
        intervals.start_days(plans["start_date"]),
        intervals.end_days(plans["end_date"]),
    )


def _cp_unvisited_spells(tables: Tables, built: Tables) -> pd.DataFrame:
    plans = tables["cp_plans"]
    visit_plan, visit_day, plan_start, plan_end = _plan_visits(tables)
    with_start = np.flatnonzero(plan_start > intervals.EARLIEST_DAY)
    # Anchors: the plan's start and every visit. After each anchor the child is overdue from
    # day 15 until the next anchor (or the plan's end), and never in the first 28 days of the
    # plan.
    plan_of = np.concatenate([with_start, visit_plan])
    anchor = np.concatenate([plan_start[with_start], visit_day])
    order = order_by(plan_of, intervals.sortable(anchor))
    plan_of, anchor = plan_of[order], anchor[order]
    last_of_plan = np.ones(len(plan_of), dtype=bool)
    last_of_plan[:-1] = plan_of[1:] != plan_of[:-1]
    until = np.empty_like(anchor)
    until[:-1] = anchor[1:]
    until[last_of_plan] = plan_end[plan_of][last_of_plan]
    overdue_from = np.maximum(
        anchor + _VISIT_DUE_DAYS + 1, plan_start[plan_of] + _PLAN_GRACE_DAYS + 1
    )
    # An empty stretch (the next visit came in time) has end <= start; merge drops it.
    child, ids = keys.coded(plans["child_id"])
    return intervals.merge(intervals.Spells(child[plan_of], overdue_from, until, ids)).frame()


def _cp_visited_spells(tables: Tables, built: Tables) -> pd.DataFrame:
    plans = tables["cp_plans"]
    visit_plan, visit_day, plan_start, plan_end = _plan_visits(tables)
    # A visit keeps the child in timescale for the visit day and the 14 days after it, counted
    # from day 29 of the plan (the denominator's "more than 28 days") and while the plan is
    # open: exactly the days cp_unvisited_spells leaves out, so CP-VISITS = 100% - year-1 A4.
    start = np.maximum(visit_day, plan_start[visit_plan] + _PLAN_GRACE_DAYS + 1)
    end = np.minimum(visit_day + _VISIT_DUE_DAYS + 1, plan_end[visit_plan])
    child, ids = keys.coded(plans["child_id"])
    return intervals.merge(intervals.Spells(child[visit_plan], start, end, ids)).frame()


def _cin_spells(referrals: pd.DataFrame) -> intervals.Spells:
    assessed = referrals["outcome"].isin(("assessment",)).to_numpy(dtype=bool)
    # only the three columns the spells need are filtered, not the whole referrals table
    return intervals.merge(
        intervals.spells(
            referrals["child_id"][assessed],
            referrals["referral_date"].to_numpy()[assessed],
            referrals["closure_date"].to_numpy()[assessed],
        )
    )


def _cin_cases(tables: Tables, built: Tables) -> pd.DataFrame:
    return _cin_spells(tables["referrals"]).frame()


def _assessed_cin_spells(tables: Tables) -> intervals.Spells:
    """Open child in need cases from the completion of the referral's first assessment.

    An assessment belongs to the referral its referral_id names; a case still being assessed
    (no completed assessment yet) is not a child assessed as in need, and a case closed on the
    day its assessment completed (no further action) leaves an empty spell, which merge drops.
    """
    referrals = tables["referrals"]
    assessments = tables["assessments"]
    completed = intervals.end_days(assessments["completed_date"])
    of_referral = keys.positions(assessments["referral_id"], referrals["referral_id"])
    done = (of_referral >= 0) & (completed < intervals.OPEN_DAY)
    first_done = np.full(len(referrals), intervals.OPEN_DAY, dtype=np.int64)
    np.minimum.at(first_done, of_referral[done], completed[done])
    assessed = referrals["outcome"].isin(("assessment",)).to_numpy(dtype=bool) & (
        first_done < intervals.OPEN_DAY
    )
    child, ids = keys.coded(referrals["child_id"])
    start = np.maximum(intervals.start_days(referrals["referral_date"]), first_done)
    end = intervals.end_days(referrals["closure_date"])
    return intervals.merge(intervals.Spells(child[assessed], start[assessed], end[assessed], ids))


def _assessed_cin_cases(tables: Tables, built: Tables) -> pd.DataFrame:
    return _assessed_cin_spells(tables).frame()


def _assessed_cin_cases_with_plan(tables: Tables, built: Tables) -> pd.DataFrame:
    plans = intervals.union(
        _spells(tables["cin_plans"], "start_date", "end_date"),
        _spells(tables["cp_plans"], "start_date", "end_date"),
        _spells(tables["cla_episodes"], "start_date", "end_date"),
    )
    # the assessed cases are usually built already this run (CIN-PLAN's denominator)
    cases = built.get("assessed_cin_cases")
    cin = intervals.from_frame(cases) if cases is not None else _assessed_cin_spells(tables)
    return intervals.intersect(cin, plans).frame()


_ADULTHOOD_YEARS = 18


def _care_ladder(tables: Tables, built: Tables) -> pd.DataFrame:
    episodes = tables["cla_episodes"]
    placed = pd.DataFrame(
        {
            "child_id": episodes["child_id"].array,
            "category": _care_ladder_category(episodes),
            "start_date": episodes["start_date"].to_numpy(dtype="datetime64[ns]"),
            "end_date": episodes["end_date"].to_numpy(dtype="datetime64[ns]"),
        },
        copy=False,  # read only, and concatenated into new memory below
    )
    # Special guardianship: left care under an SGO (E45-E48); counted until the child is 18.
    sgo = episodes[episodes["reason_ceased"].isin(contract.SGO_REASON_CEASED).to_numpy(dtype=bool)]
    dob = _child_date_of_birth(sgo, tables)
    guardianship = pd.DataFrame(
        {
            "child_id": sgo["child_id"].array,
            "category": "special_guardianship",
            "start_date": sgo["end_date"].to_numpy(dtype="datetime64[ns]"),
            "end_date": calendar.add_months(dob, _ADULTHOOD_YEARS * 12).to_numpy(
                dtype="datetime64[ns]"
            ),
        }
    )
    guardianship = guardianship[
        guardianship["start_date"].notna()
        & (
            guardianship["end_date"].isna()
            | (guardianship["end_date"] > guardianship["start_date"])
        )
    ]
    # both parts hold the episodes' own child_id column type (the shared codes, once loaded)
    out = keys.concat_rows([placed, guardianship])
    out["category"] = out["category"].astype(object)
    return out


_TABLES: dict[str, Callable[[Tables, Tables], pd.DataFrame]] = {
    "care_leaver_birthdays": _care_leaver_birthdays,
    "care_leaver_19th_birthdays": _care_leaver_19th_birthdays,
    "cp_cla_spells": _cp_cla_spells,
    "cp_cla_qsw_spells": _cp_cla_qsw_spells,
    "cp_unvisited_spells": _cp_unvisited_spells,
    "cp_visited_spells": _cp_visited_spells,
    "cin_cases": _cin_cases,
    "assessed_cin_cases": _assessed_cin_cases,
    "assessed_cin_cases_with_plan": _assessed_cin_cases_with_plan,
    "care_ladder": _care_ladder,
}


def build_derived_table(name: str, tables: Tables, built: Tables | None = None) -> pd.DataFrame:
    """Derived table ``name`` built from the extract's tables.

    ``built`` holds derived tables already built this run, which one may be made from.
    """
    _require(tables, *derived.DERIVED_TABLES[name].needs)
    frame = _TABLES[name](tables, built or {})
    columns = list(derived.DERIVED_TABLES[name].columns)
    return frame[columns].reset_index(drop=True)
