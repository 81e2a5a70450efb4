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

from kpi_engine import calendar, contract, derived, intervals

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


def _sorted(frame: pd.DataFrame, key: str, date: str, tie: str) -> np.ndarray:
    """Row positions ordering ``frame`` by key, date, then a tie-breaker (stable, deterministic)."""
    return np.lexsort(
        (
            frame[tie].astype(str).to_numpy(),
            frame[date].to_numpy(dtype="datetime64[ns]"),
            frame[key].astype(str).to_numpy(),
        )
    )


def _neighbour_in_group(
    frame: pd.DataFrame, key: str, date: str, tie: str, value: str, step: int
) -> pd.Series:
    """For each row, ``value`` of the same key's neighbouring row in date order.

    ``step`` 1 is the previous row, -1 the next; null where there is none.
    """
    order = _sorted(frame, key, date, tie)
    keys = frame[key].astype(str).to_numpy()[order]
    same = keys == np.roll(keys, step)
    if len(same):
        same[0 if step > 0 else -1] = False
    neighbour = frame[value].iloc[order].shift(step).where(same)
    values = neighbour.to_numpy()
    restored = np.empty_like(values)
    restored[order] = values
    return pd.Series(restored, index=frame.index)


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
    mapping = other.drop_duplicates(other_key).set_index(other_key)[column]
    return pd.Series(frame[key].map(mapping).to_numpy(), index=frame.index)


# --- referrals, CP plans, CP visits ---------------------------------------------------------------


def _previous_referral_date(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    return _previous_in_group(frame, "child_id", "referral_date", "referral_id", "referral_date")


def _previous_plan_end_date(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    return _previous_in_group(frame, "child_id", "start_date", "cp_plan_id", "end_date")


def _previous_plan_start_date(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    return _previous_in_group(frame, "child_id", "start_date", "cp_plan_id", "start_date")


def _visit_plans(visits: pd.DataFrame, plans: pd.DataFrame) -> pd.DataFrame:
    """Each visit with the plan it falls in (the latest plan started on or before it, if open)."""
    left = pd.DataFrame(
        {
            "row": np.arange(len(visits)),
            "child_id": visits["child_id"].astype(str).to_numpy(),
            "visit_date": visits["visit_date"].to_numpy(dtype="datetime64[ns]"),
        }
    )
    right = pd.DataFrame(
        {
            "child_id": plans["child_id"].astype(str).to_numpy(),
            "plan_start": plans["start_date"].to_numpy(dtype="datetime64[ns]"),
            "plan_end": plans["end_date"].to_numpy(dtype="datetime64[ns]"),
            "plan": plans["cp_plan_id"].astype(str).to_numpy(),
        }
    ).dropna(subset=["plan_start"])
    known = left["visit_date"].notna()
    joined = pd.merge_asof(
        left[known].sort_values("visit_date"),
        right.sort_values("plan_start"),
        left_on="visit_date",
        right_on="plan_start",
        by="child_id",
        direction="backward",
    )
    # A visit on the day a plan ends still belongs to it (the plan's last day).
    inside = joined["plan_end"].isna() | (joined["visit_date"] <= joined["plan_end"])
    joined.loc[~inside, ["plan", "plan_start", "plan_end"]] = [None, pd.NaT, pd.NaT]
    return joined.set_index("row").reindex(np.arange(len(visits)))


def _previous_visit_date(frame: pd.DataFrame, tables: Tables) -> pd.Series:
    _require(tables, "cp_plans")
    joined = _visit_plans(frame, tables["cp_plans"])
    joined["visit_id"] = frame["visit_id"].astype(str).to_numpy()
    joined["visit_date"] = frame["visit_date"].to_numpy(dtype="datetime64[ns]")
    in_plan = joined["plan"].notna()
    ordered = joined[in_plan]
    previous = _previous_in_group(ordered, "plan", "visit_date", "visit_id", "visit_date")
    # The first visit of a plan is measured from the plan's start.
    previous = previous.fillna(ordered["plan_start"])
    out = previous.reindex(joined.index)
    return pd.Series(out.to_numpy(dtype="datetime64[ns]"), index=frame.index)


# --- looked-after episodes ----------------------------------------------------------------------


def _episode_history(frame: pd.DataFrame) -> pd.DataFrame:
    """Placements, periods of care and care spells for every episode, in the frame's row order.

    Episodes are read in each child's date order. The columns returned:
    ``new_placement``, ``placement_start_date``, ``placement_before_previous_end_date``,
    ``period_of_care_start_date``, ``care_spell_start_date``, ``stability_start_date``.
    """
    n = len(frame)
    order = _sorted(frame, "child_id", "start_date", "episode_id")
    child = frame["child_id"].astype(str).to_numpy()[order]
    start = frame["start_date"].to_numpy(dtype="datetime64[ns]")[order]
    end = frame["end_date"].to_numpy(dtype="datetime64[ns]")[order]
    reason = frame["reason_new_episode"].astype(str).to_numpy()[order]
    ptype = frame["placement_type"].astype(str).to_numpy()[order]
    provider = frame["placement_provider"].astype(str).to_numpy()[order]
    legal = frame["legal_status"].astype(str).to_numpy()[order]

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
    new_period = first_of_child | (reason == "S") | np.isnat(prev_end) | (start != prev_end)
    period_id = np.cumsum(new_period) - 1
    period_start = start[np.flatnonzero(new_period)][period_id] if n else start

    temporary = np.isin(ptype, contract.TEMPORARY_PLACEMENT_TYPES)
    prev_temporary = previous(temporary, False)
    # The placement before a temporary absence: type and provider two episodes back.
    prev2_type = previous(previous(ptype, ""), "")
    prev2_provider = previous(previous(provider, ""), "")
    returning = prev_temporary & ~new_period & (ptype == prev2_type) & (provider == prev2_provider)
    with_current_carer = np.isin(ptype, contract.ADOPTION_WITH_CURRENT_CARER)
    candidate = new_period | (
        np.isin(reason, ("S", "P", "B")) & ~temporary & ~returning & ~with_current_carer
    )

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
    adoption = np.isin(ptype, ("A3", "A4", "A5", "A6"))
    prev_start = placement_prev_start[placement] if n else start
    stability = np.where(adoption & ~np.isnat(prev_start), prev_start, placement_start)

    # NI 63: a short break (V3/V4) episode breaks the continuous spell of care.
    short = np.isin(legal, contract.SHORT_BREAK_LEGAL_STATUS)
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
    ptype = frame["placement_type"].astype(str).to_numpy()
    provider = frame["placement_provider"].astype(str).to_numpy()
    residential = np.isin(ptype, ("K2", "R1"))
    fostering = np.isin(ptype, ("U1", "U2", "U3", "U4", "U5", "U6"))
    own = provider == "PR1"  # the trust's (council's) own provision
    return np.select(
        [
            residential & ~own,
            residential & own,
            fostering & np.isin(provider, ("PR4", "PR5")),
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
    out = frame.copy()
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


def _care_leaver_birthdays(tables: Tables) -> pd.DataFrame:
    leavers = tables["care_leavers"]
    contacts = tables["care_leaver_contacts"]
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
    base["row"] = np.arange(len(base))
    window_start = calendar.add_months(base["birthday"], -3)
    window_end = calendar.add_months(base["birthday"], 1)
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
    pairs = base[["row", "child_id", "birthday"]].merge(found, on="child_id")
    pairs = pairs[
        (pairs["contact_date"] >= window_start.to_numpy()[pairs["row"].to_numpy()])
        & (pairs["contact_date"] <= window_end.to_numpy()[pairs["row"].to_numpy()])
    ]
    pairs = pairs.assign(distance=(pairs["contact_date"] - pairs["birthday"]).abs())
    # Nearest first; on a tie the later contact (the more recent status) wins.
    pairs = pairs.sort_values(
        ["row", "distance", "contact_date", "contact_id"], ascending=[True, True, False, True]
    )
    nearest = pairs.drop_duplicates("row").set_index("row")
    status = nearest.reindex(base["row"])
    in_touch = status["in_touch"].fillna(False).to_numpy(dtype=bool)
    activity = status["activity"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "child_id": base["child_id"].astype(object),
            "age": base["age"],
            "birthday": base["birthday"],
            "qualifying": base["qualifying"],
            "contact_date": status["contact_date"].to_numpy(dtype="datetime64[ns]"),
            "in_touch": in_touch,
            "activity": activity,
            "eet": in_touch & np.isin(activity.astype(str), contract.EET_ACTIVITY),
            "accommodation_suitable": in_touch
            & status["accommodation_suitable"].fillna(False).to_numpy(dtype=bool),
        }
    )


def _spans(frame: pd.DataFrame, start: str, end: str | None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "child_id": frame["child_id"].astype(str).to_numpy(),
            "start_date": frame[start].to_numpy(dtype="datetime64[ns]"),
            "end_date": (
                frame[end].to_numpy(dtype="datetime64[ns]")
                if end is not None
                else np.full(len(frame), np.datetime64("NaT"), "datetime64[ns]")
            ),
        }
    )


def _cp_cla_spells(tables: Tables) -> pd.DataFrame:
    return intervals.union(
        _spans(tables["cp_plans"], "start_date", "end_date"),
        _spans(tables["cla_episodes"], "start_date", "end_date"),
    )


def _cp_cla_qsw_spells(tables: Tables) -> pd.DataFrame:
    allocations = tables["allocations"]
    qualified = _staff_field("qualified_social_worker")(allocations, tables)
    allocated = allocations[qualified.fillna(False).to_numpy(dtype=bool)]
    return intervals.intersect(_cp_cla_spells(tables), _spans(allocated, "start_date", "end_date"))


_VISIT_DUE_DAYS = 14  # the service's 2-weekly CP visiting expectation (year-1 A4)
_PLAN_GRACE_DAYS = 28  # "on a plan for more than 28 days"


def _cp_unvisited_spells(tables: Tables) -> pd.DataFrame:
    plans = tables["cp_plans"]
    visits = tables["cp_visits"]
    seen = visits[_truthy(visits["child_seen"])]
    joined = _visit_plans(seen, plans)
    joined = joined[joined["plan"].notna()]
    plan_rows = pd.DataFrame(
        {
            "plan": plans["cp_plan_id"].astype(str).to_numpy(),
            "child_id": plans["child_id"].astype(str).to_numpy(),
            "plan_start": plans["start_date"].to_numpy(dtype="datetime64[ns]"),
            "plan_end": plans["end_date"].to_numpy(dtype="datetime64[ns]"),
        }
    ).dropna(subset=["plan_start"])
    # Anchors: the plan's start and every visit that saw the child. After each anchor the child
    # is overdue from day 15 until the next anchor (or the plan's end), and never in the first
    # 28 days of the plan.
    anchors = pd.concat(
        [
            plan_rows[["plan", "child_id", "plan_start", "plan_end"]].assign(
                anchor=plan_rows["plan_start"]
            ),
            joined[["plan", "child_id", "plan_start", "plan_end"]].assign(
                anchor=joined["visit_date"].to_numpy(dtype="datetime64[ns]")
            ),
        ],
        ignore_index=True,
    ).sort_values(["plan", "anchor"], kind="stable")
    next_anchor = anchors.groupby("plan", sort=False)["anchor"].shift(-1)
    until = next_anchor.where(next_anchor.notna(), anchors["plan_end"])
    plan_end = anchors["plan_end"]
    until = until.where(plan_end.isna() | (until <= plan_end), plan_end)
    overdue_from = np.maximum(
        (anchors["anchor"] + pd.Timedelta(days=_VISIT_DUE_DAYS + 1)).to_numpy("datetime64[ns]"),
        (anchors["plan_start"] + pd.Timedelta(days=_PLAN_GRACE_DAYS + 1)).to_numpy(
            "datetime64[ns]"
        ),
    )
    spells = pd.DataFrame(
        {
            "child_id": anchors["child_id"].to_numpy(dtype=object),
            "start_date": overdue_from,
            "end_date": until.to_numpy(dtype="datetime64[ns]"),
        }
    )
    spells = spells[spells["end_date"].isna() | (spells["end_date"] > spells["start_date"])]
    return intervals.merge(spells)


def _cin_cases(tables: Tables) -> pd.DataFrame:
    referrals = tables["referrals"]
    assessed = referrals[referrals["outcome"].astype(str).to_numpy() == "assessment"]
    return intervals.merge(_spans(assessed, "referral_date", "closure_date"))


def _cin_cases_with_plan(tables: Tables) -> pd.DataFrame:
    plans = intervals.union(
        _spans(tables["cin_plans"], "start_date", "end_date"),
        _spans(tables["cp_plans"], "start_date", "end_date"),
        _spans(tables["cla_episodes"], "start_date", "end_date"),
    )
    return intervals.intersect(_cin_cases(tables), plans)


_ADULTHOOD_YEARS = 18


def _care_ladder(tables: Tables) -> pd.DataFrame:
    episodes = tables["cla_episodes"]
    placed = _spans(episodes, "start_date", "end_date")
    placed.insert(1, "category", _care_ladder_category(episodes))
    # Special guardianship: left care under an SGO (E45-E48); counted until the child is 18.
    sgo = episodes[np.isin(episodes["reason_ceased"].astype(str), contract.SGO_REASON_CEASED)]
    dob = _child_date_of_birth(sgo, tables)
    guardianship = pd.DataFrame(
        {
            "child_id": sgo["child_id"].astype(str).to_numpy(),
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
    out = pd.concat([placed, guardianship], ignore_index=True)
    out["child_id"] = out["child_id"].astype(object)
    out["category"] = out["category"].astype(object)
    return out


_TABLES: dict[str, Callable[[Tables], pd.DataFrame]] = {
    "care_leaver_birthdays": _care_leaver_birthdays,
    "cp_cla_spells": _cp_cla_spells,
    "cp_cla_qsw_spells": _cp_cla_qsw_spells,
    "cp_unvisited_spells": _cp_unvisited_spells,
    "cin_cases": _cin_cases,
    "cin_cases_with_plan": _cin_cases_with_plan,
    "care_ladder": _care_ladder,
}


def build_derived_table(name: str, tables: Tables) -> pd.DataFrame:
    """Derived table ``name`` built from the extract's tables."""
    _require(tables, *derived.DERIVED_TABLES[name].needs)
    frame = _TABLES[name](tables)
    columns = list(derived.DERIVED_TABLES[name].columns)
    return frame[columns].reset_index(drop=True)
