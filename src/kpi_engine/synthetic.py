"""A realistic synthetic case-level extract: coherent child journeys for one or many authorities.

Every child is simulated from the first referral onwards: referrals (and re-referrals), single
assessments timed in working days, child in need and child protection plans with their visits,
SSDA903 periods of care built from legal-status and placement events (moves, temporary absences,
placement for adoption with the current carer, short breaks), reviews, visits, missing episodes,
care proceedings, adoption milestones and care leavers' keeping-in-touch contacts. Workforce,
finance and youth offending tables are generated beside them.

Everything is vectorised with numpy: a step draws one array per event type (counts per parent
record, ``np.repeat``, cumulative sums of gaps within segments). The only Python loops run over
*rounds* (the k-th referral of every child at once, one staff turnover step for every case at once)
and over *chunks* of children, which keep national-scale runs memory-bounded.

Scale 1 is one authority of about 65,000 children aged 0-17, tuned to the Dec-15 corporate
scorecard of seed 001; scale 150 is about all of England (some 630,000 referrals a year).

Journeys start ``BURN_IN_YEARS`` before ``start`` so that long stays in care and earlier
referrals exist when the reporting range begins; a child is kept when any of their records reaches
the year before ``start`` (the history a rolling 12-month window needs) and then with their whole
history, so that "previous referral" or "previous plan" is never cut off. Counts of events dated
before ``start`` are therefore not complete and should not be reported on.

Output is deterministic: the same options give byte-identical files.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import holidays
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import yaml

from kpi_engine import contract

Arr = npt.NDArray[Any]
Format = Literal["parquet", "csv"]
Progress = Callable[[str], None]

AUTHORITY = "Synthetic Borough"
SOURCE_SYSTEM = "kpi-engine synthetic generator"
GENERATOR_VERSION = "1"

BURN_IN_YEARS = 8
"""Years simulated before ``start`` so that stocks (children in care, open plans) are in place."""
CHUNK_CHILDREN = 200_000
"""Children simulated at once; bounds memory at national scale (output does not depend on it
beyond the row-group layout, which is fixed for given options)."""
MAX_REFERRALS = 12

_EPOCH = np.datetime64("1970-01-01", "D")
_KEY_BASE = -25_567  # 1900-01-01: keeps (group, day) keys positive
_FAR = 10**6  # a day far beyond any extract (year ~4700): "not yet happened"
_SECONDS = 86_400

_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 9,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "2.0",
}
_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
    "bool": pa.bool_(),
    "int": pa.int64(),
    "number": pa.float64(),
    "month": pa.string(),
}


class GenerationError(ValueError):
    """Options the generator cannot honour (a malformed month, an empty range, a bad scale)."""


# --- small vectorised helpers ---------------------------------------------------------------------


def _day(text: str) -> int:
    return int((np.datetime64(text, "D") - _EPOCH).astype(np.int64))


def _seg_starts(counts: Arr) -> Arr:
    return np.cumsum(counts) - counts


def _owner(counts: Arr) -> Arr:
    """For each row of a segmented array, the index of the segment (parent) it belongs to."""
    return np.repeat(np.arange(len(counts)), counts)


def _rank(counts: Arr) -> Arr:
    """Position of each row within its segment (0, 1, 2, ...)."""
    rank: Arr = np.arange(int(counts.sum())) - np.repeat(_seg_starts(counts), counts)
    return rank


def _seg_cumsum(values: Arr, counts: Arr) -> Arr:
    """Cumulative sum restarting at each segment."""
    cs = np.cumsum(values)
    before = np.concatenate(([0], cs))[_seg_starts(counts)]
    out: Arr = cs - np.repeat(before, counts)
    return out


def _key(group: Arr, day: Arr) -> Arr:
    """A sortable int64 key for (group, day) pairs."""
    out: Arr = (group.astype(np.int64) << 21) | (day.astype(np.int64) - _KEY_BASE)
    return out


def _pick(rng: np.random.Generator, weights: Any, n: int) -> Arr:
    """``n`` draws of an index with the given (unnormalised) weights."""
    p = np.asarray(weights, dtype=float)
    cum = np.cumsum(p / p.sum())
    out: Arr = np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(p) - 1)
    return out


def _pick_rows(rng: np.random.Generator, table: Arr, rows: Arr) -> Arr:
    """One draw per element of ``rows`` from the weight row ``table[row]``."""
    cum = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(rows))
    out: Arr = np.minimum((u[:, None] >= cum[rows]).sum(axis=1), table.shape[1] - 1)
    return out


def _lognormal(
    rng: np.random.Generator, median: float, sigma: float, n: int, lo: int, hi: int
) -> Arr:
    x = np.rint(median * np.exp(sigma * rng.standard_normal(n)))
    out: Arr = np.clip(x, lo, hi).astype(np.int64)
    return out


def _birthday(dob: Arr, years: int) -> Arr:
    """The day of the ``years``-th birthday (29 February birthdays fall on 1 March)."""
    d = dob.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    dom = d - month.astype("datetime64[D]")
    out: Arr = ((month + 12 * years).astype("datetime64[D]") + dom).astype(np.int64)
    return out


def _weekday(days: Arr) -> Arr:
    out: Arr = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return out


def _index(codes: tuple[str, ...], *names: str) -> Arr:
    return np.array([codes.index(n) for n in names], dtype=np.int64)


def _code(codes: tuple[str, ...], name: str) -> int:
    return codes.index(name)


# --- codes ----------------------------------------------------------------------------------------

LS = contract.LEGAL_STATUS
PT = contract.PLACEMENT_TYPES
RC = contract.REASON_CEASED
RNE = contract.REASON_NEW_EPISODE
PR = contract.PLACEMENT_PROVIDERS

L1, L2, V2, V3, V4, C1, C2, E1, J1, J2 = (
    _code(LS, c) for c in ("L1", "L2", "V2", "V3", "V4", "C1", "C2", "E1", "J1", "J2")
)
R_S, R_L, R_P, R_T, R_U, R_B = (_code(RNE, c) for c in ("S", "L", "P", "T", "U", "B"))
X1 = _code(RC, "X1")
E4A = _code(RC, "E4A")

ETHNICITY = (
    "WBRI", "WIRI", "WOTH", "WIRT", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND", "APKN",
    "ABAN", "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT",
)  # fmt: skip
ETHNICITY_W = (
    80.0, 0.5, 3.5, 0.3, 0.7, 2.2, 0.6, 0.8, 1.2, 0.7, 1.4,
    0.3, 0.6, 0.6, 1.5, 0.4, 0.3, 0.9, 1.0, 2.5,
)  # fmt: skip
REFERRAL_SOURCES = (
    "1A", "1B", "1C", "1D", "2A", "2B", "3A", "3B", "3C", "3D", "3E", "3F", "4", "5A", "5B",
    "5C", "5D", "6", "7", "8", "9", "10",
)  # fmt: skip
REFERRAL_SOURCES_W = (
    5, 1, 1, 2, 17, 2, 3, 4, 1, 1, 3, 3, 2, 6, 3,
    2, 4, 28, 3, 5, 1, 3,
)  # fmt: skip

# Placement types offered to new placements, by age band (0-4, 5-11, 12-15, 16-17).
_PLACE_CHOICES = _index(
    PT, "U1", "U3", "U4", "U5", "U6", "P1", "K2", "R1", "S1", "H5", "P2", "K1", "R3", "R5",
    "Z1", "P3", "R2",
)  # fmt: skip
_PLACE_W = np.array(
    [
        [4, 9, 18, 5, 52, 5, 0, 0, 0, 0, 0, 0, 6, 0, 1, 0, 0],
        [6, 8, 25, 1, 44, 5, 7, 1, 2, 0, 0, 0, 0, 0, 1, 0, 0],
        [4, 5, 22, 0, 36, 4, 20, 2, 3, 0, 0, 1, 0, 1, 1, 0, 1],
        [3, 3, 16, 0, 22, 4, 15, 1, 1, 25, 7, 1, 0, 1, 0, 1, 0],
    ],
    dtype=float,
)


def _provider_table() -> Arr:
    """Weights over PR0..PR5 and 'no provider' (last column), by placement type."""
    t = np.zeros((len(PT), len(PR) + 1))
    rows: dict[tuple[str, ...], tuple[float, ...]] = {
        ("U1", "U2", "U3"): (0, 0.9, 0.1, 0, 0, 0, 0),
        ("U4", "U5", "U6"): (0, 0.58, 0.02, 0, 0.28, 0.12, 0),
        ("P1",): (1, 0, 0, 0, 0, 0, 0),
        ("K2",): (0, 0.25, 0, 0, 0.7, 0.05, 0),
        ("R1",): (0, 0, 0, 0.3, 0.7, 0, 0),
        ("R2", "R5"): (0, 0, 0, 1, 0, 0, 0),
        ("R3",): (0, 0, 0, 0, 0.5, 0.5, 0),
        ("K1",): (0, 0, 0.5, 0.5, 0, 0, 0),
        ("S1",): (0, 0, 0, 0, 0.6, 0.4, 0),
        ("H5",): (0, 0.3, 0, 0, 0.7, 0, 0),
        ("P2",): (0, 0.4, 0, 0, 0, 0, 0.6),
        ("P3",): (0, 0, 0, 0, 0, 0, 1),
        ("Z1",): (0, 0, 0, 0, 0.5, 0, 0.5),
        ("A3", "A4", "A5", "A6"): (0, 0.7, 0.05, 0, 0, 0.25, 0),
        ("T0", "T1", "T2", "T3", "T4"): (0, 1, 0, 0, 0, 0, 0),
    }
    for codes, weights in rows.items():
        for c in codes:
            t[PT.index(c)] = weights
    return t


_PROVIDER_W = _provider_table()

# Period-of-care plans and their chances by age band at entry (<1, 1-4, 5-9, 10-15, 16-17).
SHORT, MEDIUM, SGO, ADOPTION, LONG, REMAND = range(6)
_PLAN_W = np.array(
    [
        [0.08, 0.17, 0.15, 0.45, 0.15, 0.00],
        [0.14, 0.25, 0.15, 0.28, 0.18, 0.00],
        [0.20, 0.30, 0.13, 0.02, 0.35, 0.00],
        [0.30, 0.28, 0.04, 0.00, 0.34, 0.04],
        [0.42, 0.15, 0.00, 0.00, 0.38, 0.05],
    ]
)
_LEAVE = {
    SHORT: (("E4A", "E4B", "E13", "E8", "E3"), (0.55, 0.1, 0.25, 0.05, 0.05)),
    MEDIUM: (("E4A", "E41", "E13", "E8", "E16"), (0.75, 0.08, 0.12, 0.03, 0.02)),
    SGO: (("E45", "E46", "E47", "E48"), (0.40, 0.15, 0.35, 0.10)),
    ADOPTION: (("E11", "E12"), (0.85, 0.15)),
    LONG: (("E4A", "E41", "E13", "E8", "E5"), (0.45, 0.10, 0.25, 0.10, 0.10)),
    REMAND: (("E14", "E9"), (0.75, 0.25)),
}
_LEAVE_AT_18 = (("E17", "E5", "E6", "E8", "E13", "E7"), (0.35, 0.28, 0.08, 0.12, 0.14, 0.03))
_RETURNED_HOME = _index(RC, "E4A", "E4B", "E13", "E41")
# Placement moves a year while in care: most children are settled, some move often.
_MOVE_RATES = (0.12, 0.9, 3.5)
_MOVE_CLASSES = (0.73, 0.22, 0.05)

# Kind of case after an assessment, by the child's risk level (low, medium, high).
ASSESS_ONLY, CIN, CP, CLA, SHORT_BREAK = range(5)
_KIND_W = np.array(
    [
        [0.70, 0.273, 0.023, 0.004, 0.0],
        [0.44, 0.375, 0.125, 0.06, 0.0],
        [0.22, 0.28, 0.25, 0.25, 0.0],
    ]
)
_P_ASSESS = np.array([0.72, 0.88, 0.95])
_P_AGAIN = np.array([0.36, 0.58, 0.75])
_AGE_AT_ONSET_W = (14, 6, 6, 5.5, 5.5, 5.5, 5, 5, 5, 5, 5, 5.5, 6, 6.5, 7, 7, 5.5, 3)
_SEASON = (1.02, 1.05, 1.08, 0.98, 1.02, 1.05, 1.0, 0.8, 0.98, 1.1, 1.08, 0.84)

# Scale-1 rates (one authority like the seed's: ~65,000 children aged 0-17).
NEW_CHILDREN_PER_MONTH = 200.0
CHILDREN_0_17 = 65_000
CASEHOLDING_POSTS = 152
_OTHER_POSTS = (  # (job title, team, frontline, caseholding, qualified, posts at scale 1)
    ("Team Manager", "", True, False, True, 22),
    ("Family Support Worker", "", True, False, False, 30),
    ("Service Manager", "Management", False, False, True, 8),
    ("Business Support Officer", "Business Support", False, False, False, 45),
)
_TEAMS = (
    "Assessment",
    "Children in Need",
    "Child Protection",
    "Looked After Children",
    "Disabled Children",
    "Leaving Care",
)
FINANCE_STREAMS = (  # stream, line, 2015-16 budget at scale 1 (pounds)
    ("capital", "expenditure", 650_000.0),
    ("capital", "income", 650_000.0),
    ("core", "expenditure", 42_300_000.0),
    ("core", "income", 41_800_000.0),
    ("partner_contributions", "expenditure", 2_100_000.0),
    ("partner_contributions", "income", 2_100_000.0),
    ("troubled_families", "expenditure", 1_450_000.0),
    ("troubled_families", "income", 1_450_000.0),
)


# --- options --------------------------------------------------------------------------------------

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _month(text: str, what: str) -> np.datetime64:
    m = _MONTH_RE.match(text.strip())
    if m is None:
        raise GenerationError(f"{what} must be a month as YYYY-MM (not {text!r})")
    return np.datetime64(f"{m.group(1)}-{m.group(2)}", "M")


@dataclass(frozen=True)
class _Clock:
    """The time frame of one generation run (days since 1970-01-01)."""

    start_day: int
    end_day: int
    sim_start: int
    history_start: int
    calendar: np.busdaycalendar
    id_width: int

    def busday_offset(self, days: Arr, offsets: Arr | int) -> Arr:
        out = np.busday_offset(
            days.astype("datetime64[D]"), offsets, roll="forward", busdaycal=self.calendar
        )
        result: Arr = out.astype(np.int64)
        return result

    def busday_count(self, a: Arr, b: Arr) -> Arr:
        out: Arr = np.busday_count(
            a.astype("datetime64[D]"), b.astype("datetime64[D]"), busdaycal=self.calendar
        ).astype(np.int64)
        return out


def _clock(scale: float, start: str, end: str) -> _Clock:
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise GenerationError(f"scale must be a positive number (not {scale!r})")
    m0, m1 = _month(start, "start"), _month(end, "end")
    if m1 < m0:
        raise GenerationError(f"end ({end}) is before start ({start})")
    start_day = int((m0.astype("datetime64[D]") - _EPOCH).astype(np.int64))
    end_day = int(((m1 + 1).astype("datetime64[D]") - _EPOCH).astype(np.int64)) - 1
    sim_start = int(
        ((m0 - 12 * BURN_IN_YEARS).astype("datetime64[M]").astype("datetime64[D]") - _EPOCH).astype(
            np.int64
        )
    )
    first_year = int(str(m0.astype("datetime64[Y]"))) - BURN_IN_YEARS - 1
    last_year = int(str(m1.astype("datetime64[Y]"))) + 25
    # England's bank holidays computed offline by the `holidays` package, not a hand-typed list
    bank = holidays.country_holidays("GB", subdiv="ENG", years=range(first_year, last_year + 1))
    calendar = np.busdaycalendar(
        holidays=np.array(sorted(np.datetime64(d, "D") for d in bank), dtype="datetime64[D]")
    )
    years = (end_day - sim_start) / 365.25
    bound = 2_500_000 * max(scale, 1.0) * years / 14
    width = max(7, len(str(int(bound))))
    return _Clock(start_day, end_day, sim_start, start_day - 365, calendar, width)


# --- output schema --------------------------------------------------------------------------------


def _schema(table: str) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, _ARROW_TYPES[c.type]) for c in contract.TABLES[table].columns]
    )


def _ids(prefix: str, numbers: Arr, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers.astype(np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _dates(days: Arr, clock: _Clock, nullable: bool = True) -> pa.Array:
    """Dates; a date after the extract's last day has not happened yet and is null."""
    days = days.astype(np.int64)
    mask = days > clock.end_day if nullable else None
    values = np.where(days > clock.end_day, 0, days).astype(np.int32)
    return pa.array(values, type=pa.int32(), mask=mask).cast(pa.date32())


def _due_dates(days: Arr) -> pa.Array:
    """Due dates: set when the previous visit or review happens, so one may fall after the
    extract's last day (a visit made early, in the extract's last days). Unlike :func:`_dates`,
    they are never nulled or zeroed: a 1970 due date made every such visit late, and the
    sample's last month fell to 78% (LAC-VISITS, LAC-REVIEWS)."""
    return pa.array(days.astype(np.int32), type=pa.int32()).cast(pa.date32())


def _codes(codes: tuple[str, ...], index: Arr) -> pa.Array:
    idx = pa.array(index.astype(np.int64), mask=index < 0)
    return pa.array(list(codes), type=pa.string()).take(idx)


def _bools(values: Arr, null: Arr | None = None) -> pa.Array:
    return pa.array(values.astype(bool), type=pa.bool_(), mask=null)


def _table(name: str, columns: Mapping[str, pa.Array]) -> pa.Table:
    schema = _schema(name)
    if set(columns) != set(schema.names):
        raise AssertionError(f"{name}: columns {sorted(columns)} != {sorted(schema.names)}")
    return pa.table([columns[f.name].cast(f.type) for f in schema], schema=schema)


# --- staff: posts filled by a chain of workers ----------------------------------------------------


@dataclass
class _Staff:
    """Worker contracts (stints), in post order, and how to find a post's worker on a day."""

    post: Arr
    start: Arr
    end: Arr
    number: Arr  # staff id number of each stint
    key: Arr  # _key(post, start), sorted
    caseholding_posts: Arr


def _staff(rng: np.random.Generator, clock: _Clock, scale: float) -> tuple[_Staff, pa.Table]:
    n_case = max(2, round(CASEHOLDING_POSTS * scale))
    other = [max(1, round(n * scale)) for *_, n in _OTHER_POSTS]
    n_posts = n_case + sum(other)
    kind = np.concatenate([np.zeros(n_case, np.int64)] + [np.full(k, i + 1) for i, k in
                                                           enumerate(other)])  # fmt: skip
    frontline = np.array([True] + [o[2] for o in _OTHER_POSTS])[kind]
    caseholding = np.array([True] + [o[3] for o in _OTHER_POSTS])[kind]
    qualified = np.array([True] + [o[4] for o in _OTHER_POSTS])[kind]
    team_index = np.where(
        kind == 0, _pick(rng, (30, 25, 20, 15, 5, 5), n_posts), rng.integers(0, 4, n_posts)
    )
    team_names = (*_TEAMS, "Management", "Business Support")
    team = np.where(kind == 3, 6, np.where(kind == 4, 7, team_index))
    titles = (
        "Social Worker",
        "Senior Social Worker",
        "Advanced Practitioner",
        *(o[0] for o in _OTHER_POSTS),
    )
    title = np.where(kind == 0, _pick(rng, (65, 25, 10), n_posts), kind + 2)

    # A chain of contracts per post: each worker follows the last the day after they leave.
    p_agency = np.where(frontline, 0.52, 0.05)
    stints = 64
    agency = rng.random((n_posts, stints)) < p_agency[:, None]
    tenure = np.where(
        agency,
        28 + rng.exponential(200, (n_posts, stints)),
        60 + rng.exponential(1_750, (n_posts, stints)),
    ).astype(np.int64)
    first_start = clock.sim_start - rng.integers(0, 3_000, n_posts)
    tenure[:, 0] = (clock.sim_start - first_start) + rng.exponential(900, n_posts).astype(np.int64)
    ends = first_start[:, None] + np.cumsum(tenure, axis=1) - 1
    starts = np.concatenate([first_start[:, None], ends[:, :-1] + 1], axis=1)
    if (ends[:, -1] < clock.end_day).any():
        raise AssertionError("staff chains too short")  # 64 contracts always cover the range
    keep = starts <= clock.end_day
    post = np.broadcast_to(np.arange(n_posts)[:, None], keep.shape)[keep]
    s, e, ag = starts[keep], ends[keep], agency[keep]
    n = len(s)

    # staff ids in order of starting (then post), like a payroll system's
    order = np.lexsort((post, s))
    number = np.empty(n, np.int64)
    number[order] = np.arange(n) + 1
    fte = np.where(ag, 1.0, np.array([1.0, 0.8, 0.6, 0.5])[_pick(rng, (80, 8, 7, 5), n)])
    left = e <= clock.end_day
    reasons = (
        "resignation",
        "moved to another local authority",
        "retirement",
        "end of fixed-term contract",
        "dismissal",
        "end of assignment",
    )
    reason = np.where(ag, 5, _pick(rng, (58, 17, 10, 12, 3), n))
    reason = np.where(left, reason, -1)
    t = pa.table(
        {
            "staff_id": _ids("S", number[order], clock.id_width),
            "job_title": _codes(titles, title[post][order]),
            "team": _codes(team_names, team[post][order]),
            "frontline": _bools(frontline[post][order]),
            "caseholding": _bools(caseholding[post][order]),
            "qualified_social_worker": _bools(qualified[post][order]),
            "employment_type": _codes(contract.EMPLOYMENT_TYPES, ag[order].astype(np.int64)),
            "fte": pa.array(fte[order]),
            "start_date": _dates(s[order], clock, nullable=False),
            "end_date": _dates(e[order], clock),
            "leaving_reason": _codes(reasons, reason[order]),
        }
    )
    staff = _Staff(
        post=post,
        start=s,
        end=e,
        number=number,
        key=_key(post, s),
        caseholding_posts=np.flatnonzero(caseholding),
    )
    return staff, _table("staff", dict(zip(t.column_names, t.columns, strict=True)))


def _staff_activity(
    rng: np.random.Generator, clock: _Clock, staff: _Staff, staff_table: pa.Table
) -> dict[str, pa.Table]:
    """Supervisions of frontline workers and everyone's sickness absence, from history_start."""
    frontline = staff_table.column("frontline").to_numpy(zero_copy_only=False)
    fte = staff_table.column("fte").to_numpy()
    order = np.argsort(staff.number)  # staff table order → stint index
    lo = np.maximum(staff.start[order], clock.history_start)
    hi = np.minimum(staff.end[order], clock.end_day)
    span = np.maximum(hi - lo, 0)
    number = staff.number[order]

    # roughly monthly supervisions, most within a month of the last
    sup = frontline & (span > 0)
    counts = np.where(sup, span // 20 + 2, 0)
    who = _owner(counts)
    first = _rank(counts) == 0
    gap = np.where(
        rng.random(len(who)) < 0.86,
        rng.integers(20, 32, len(who)),
        rng.integers(32, 62, len(who)),
    )
    gap = np.where(first, rng.integers(5, 31, len(who)), gap)
    day = lo[who] + _seg_cumsum(gap, counts)
    ok = day <= hi[who]
    sv_staff, sv_day = number[who][ok], day[ok]
    o = np.lexsort((sv_day, sv_staff))
    supervisions = _table(
        "supervisions",
        {
            "supervision_id": _ids("SV", np.arange(len(o)) + 1, clock.id_width),
            "staff_id": _ids("S", sv_staff[o], clock.id_width),
            "supervision_date": _dates(sv_day[o], clock, nullable=False),
        },
    )

    # sickness: ~0.85 episodes per FTE-year, mostly short, some long-term
    n_abs = rng.poisson(1.05 * fte * span / 365.25)
    who = _owner(n_abs)
    start = lo[who] + (rng.random(len(who)) * span[who]).astype(np.int64)
    start = clock.busday_offset(start, 0)
    long_term = rng.random(len(who)) < 0.18
    wd = np.where(long_term, rng.integers(10, 61, len(who)), rng.integers(1, 6, len(who)))
    end = clock.busday_offset(start, wd - 1)
    end = np.minimum(end, staff.end[order][who])
    ok = start <= np.minimum(hi[who], end)
    who, start, end = who[ok], start[ok], end[ok]
    open_ = end > clock.end_day
    lost = clock.busday_count(start, np.minimum(end, clock.end_day) + 1)
    lost = np.maximum(lost, 1) * np.where(fte[who] < 1, fte[who], 1.0)
    o = np.lexsort((start, number[who]))
    absence = _table(
        "sickness_absence",
        {
            "absence_id": _ids("AB", np.arange(len(o)) + 1, clock.id_width),
            "staff_id": _ids("S", number[who][o], clock.id_width),
            "start_date": _dates(start[o], clock, nullable=False),
            "end_date": _dates(np.where(open_, _FAR, end)[o], clock),
            "days_lost": pa.array(np.round(lost[o], 1)),
        },
    )
    return {"supervisions": supervisions, "sickness_absence": absence}


# --- area-level tables ----------------------------------------------------------------------------


def _population(rng: np.random.Generator, clock: _Clock, scale: float) -> pa.Table:
    first = int(str(np.datetime64(clock.start_day, "D").astype("datetime64[Y]"))) - 1
    last = int(str(np.datetime64(clock.end_day, "D").astype("datetime64[Y]")))
    years = np.arange(first, last + 1)
    shape = 3_950 - 28 * np.arange(18) + 2.2 * (np.arange(18) - 9) ** 2
    shape = shape / shape.sum() * CHILDREN_0_17
    growth = 1 + 0.005 * (years - 2015)
    noise = 1 + 0.004 * rng.standard_normal((len(years), 18))
    counts = np.rint(shape[None, :] * growth[:, None] * noise * scale)
    return _table(
        "population",
        {
            "year": pa.array(np.repeat(years, 18).astype(np.int64)),
            "age": pa.array(np.tile(np.arange(18), len(years)).astype(np.int64)),
            "count": pa.array(counts.ravel().astype(float)),
        },
    )


def _finance(rng: np.random.Generator, clock: _Clock, scale: float) -> pa.Table:
    m0 = np.datetime64(clock.start_day, "D").astype("datetime64[M]")
    m1 = np.datetime64(clock.end_day, "D").astype("datetime64[M]")
    months = np.arange(m0, m1 + 1)
    month_no = months.astype(np.int64) % 12  # 0 = January
    fy = months.astype("datetime64[Y]").astype(np.int64) + 1970 - (month_no < 3)
    fy_month = (month_no - 3) % 12  # 0 = April
    rows: list[dict[str, Any]] = []
    labels = [str(m) for m in months]
    for stream, line, budget_2015 in FINANCE_STREAMS:
        for year in np.unique(fy):
            sel = np.flatnonzero(fy == year)
            budget = round(budget_2015 * scale * (1 + 0.02 * (year - 2015)) / 1000) * 1000
            drift = 0.004 if line == "expenditure" and stream == "core" else 0.0
            walk = np.cumsum(rng.normal(drift, 0.005, 12))[fy_month[sel]]
            forecast = np.round(budget * (1 + walk), -3)
            spend = forecast / 12 * (1 + rng.normal(0, 0.05, len(sel)))
            actual = np.round(np.cumsum(spend), 0)
            for i, k in enumerate(sel):
                rows.append(
                    {
                        "month": labels[k],
                        "funding_stream": stream,
                        "line": line,
                        "budget": float(budget),
                        "forecast_outturn": float(forecast[i]),
                        "actual_to_date": float(actual[i]),
                    }
                )
    frame = pd.DataFrame(rows).sort_values(["month", "funding_stream", "line"], kind="stable")
    return _table("finance", {c: pa.array(frame[c].tolist()) for c in frame.columns})


def _yos(rng: np.random.Generator, clock: _Clock, scale: float) -> dict[str, pa.Table]:
    """A youth offending cohort (first disposals) and every disposal, from history_start."""
    days = clock.end_day - clock.history_start + 1
    n = rng.poisson(18.5 * scale * days / 30.44)
    start = np.sort(clock.history_start + rng.integers(0, days, n))
    age = 10 + _pick(rng, (1, 2, 4, 7, 11, 16, 21, 22), n)
    dob = start - age * 365 - rng.integers(0, 365, n)
    dob18 = _birthday(dob, 18)
    eet = rng.random(n) < 0.75
    eet_null = rng.random(n) < 0.05
    reoffended = rng.random(n) < 0.33
    known = start + 365 <= clock.end_day
    first_type = _pick(rng, (3, 38, 59), n)  # custody, community, out_of_court
    again = np.where(reoffended, 1 + rng.poisson(0.8, n), 0)
    who = _owner(again)
    later = start[who] + rng.integers(14, 366, len(who))
    later_type = _pick(rng, (10, 56, 34), len(who))
    d_who = np.concatenate([np.arange(n), who])
    d_day = np.concatenate([start, later])
    d_type = np.concatenate([first_type, later_type])
    ok = (d_day <= clock.end_day) & (d_day < dob18[d_who])
    d_who, d_day, d_type = d_who[ok], d_day[ok], d_type[ok]
    o = np.lexsort((d_day, d_who))
    cohort = _table(
        "yos_cohort",
        {
            "young_person_id": _ids("Y", np.arange(n) + 1, clock.id_width),
            "date_of_birth": _dates(dob, clock, nullable=False),
            "cohort_start": _dates(start, clock, nullable=False),
            "eet": _bools(eet, eet_null),
            "reoffended_12m": _bools(reoffended, ~known),
        },
    )
    disposals = _table(
        "yos_disposals",
        {
            "disposal_id": _ids("YD", np.arange(len(o)) + 1, clock.id_width),
            "young_person_id": _ids("Y", d_who[o] + 1, clock.id_width),
            "disposal_date": _dates(d_day[o], clock, nullable=False),
            "disposal_type": _codes(contract.DISPOSAL_TYPES, d_type[o]),
        },
    )
    return {"yos_cohort": cohort, "yos_disposals": disposals}


# --- child journeys -------------------------------------------------------------------------------


class _Rows:
    """Column arrays collected round by round, per output table."""

    def __init__(self) -> None:
        self.parts: dict[str, list[dict[str, Arr]]] = {}

    def add(self, table: str, mask: Arr | None = None, **columns: Arr) -> None:
        if mask is not None:
            columns = {k: v[mask] for k, v in columns.items()}
        self.parts.setdefault(table, []).append(columns)

    def get(self, table: str, names: tuple[str, ...]) -> dict[str, Arr]:
        parts = self.parts.get(table, [])
        return {
            n: np.concatenate([p[n] for p in parts]) if parts else np.zeros(0, np.int64)
            for n in names
        }


class _Journeys:
    """Simulates one chunk of children from their first referral."""

    def __init__(self, rng: np.random.Generator, clock: _Clock, onset: Arr) -> None:
        self.rng = rng
        self.clock = clock
        self.rows = _Rows()
        self.n_referrals = 0
        n = len(onset)
        self.n = n
        self.onset = onset
        age_years = _pick(rng, _AGE_AT_ONSET_W, n)
        self.dob = onset - age_years * 365 - rng.integers(0, 365, n)
        self.dob18 = _birthday(self.dob, 18)
        self.sex = _pick(rng, (510, 485, 5), n)
        self.ethnicity = np.where(rng.random(n) < 0.02, -1, _pick(rng, ETHNICITY_W, n))
        self.disabled = rng.random(n) < 0.09
        self.disabled_null = ~self.disabled & (rng.random(n) < 0.06)  # "not recorded"
        self.risk = _pick(rng, (60, 30, 10), n)
        self.category = _pick(rng, (45, 9, 35, 4, 7), n)

    # -- referrals, round by round (the k-th referral of every child at once)

    def simulate(self) -> None:
        rng, clock = self.rng, self.clock
        next_day = self.onset.copy()
        active = np.ones(self.n, bool)
        for k in range(MAX_REFERRALS):
            active &= (next_day <= clock.end_day) & (next_day < self.dob18 - 150)
            idx = np.flatnonzero(active)
            if len(idx) == 0:
                break
            close, adopted = self._cases(idx, next_day[idx], k)
            m = len(idx)
            # an adopted child starts a new record under a new identity: this one ends
            again = (rng.random(m) < _P_AGAIN[self.risk[idx]] * 0.92**k) & ~adopted
            gap = np.where(
                rng.random(m) < 0.74,
                rng.integers(14, 280, m),
                30 + rng.exponential(900, m).astype(np.int64),
            )
            nxt = close + gap
            weekend = (_weekday(nxt) >= 5) & (rng.random(m) < 0.75)
            next_day[idx] = np.where(weekend, nxt + 7 - _weekday(nxt), nxt)
            active[idx] = again

    def _cases(self, idx: Arr, r: Arr, k: int) -> tuple[Arr, Arr]:
        """One referral per child in ``idx`` on day ``r``: each case's closure day, and whether
        the child was adopted."""
        rng, clock, rows = self.rng, self.clock, self.rows
        m = len(idx)
        dob, dob18 = self.dob[idx], self.dob18[idx]
        risk = self.risk[idx]
        age = (r - dob) / 365.25
        rid = self.n_referrals + np.arange(m)
        self.n_referrals += m

        assessed = rng.random(m) < _P_ASSESS[risk]
        outcome = np.where(assessed, 0, np.where(rng.random(m) < 0.55, 1, 2))
        close = r + np.where(outcome == 1, rng.integers(0, 4, m), rng.integers(0, 15, m))
        source = np.where(rng.random(m) < 0.01, -1, _pick(rng, REFERRAL_SOURCES_W, m))

        # single assessment: ~88% within 45 working days
        a0 = r + np.array([0, 0, 0, 1, 1, 2, 3, 5])[rng.integers(0, 8, m)]
        late = rng.random(m) < 0.12
        wd = np.where(late, rng.integers(46, 96, m), rng.integers(6, 46, m))
        a1 = clock.busday_offset(a0, wd)
        kind = _pick_rows(rng, _KIND_W, risk)
        short_break = self.disabled[idx] & (age >= 4) & (age < 15) & (rng.random(m) < 0.15)
        kind = np.where(short_break & (k == 0), SHORT_BREAK, kind)
        kind = np.where(assessed, kind, -1)
        close = np.where(assessed, a1 + rng.integers(0, 36, m), close)

        # child in need plan
        cin = kind == CIN
        cin_s = a1 + rng.integers(0, 15, m)
        cin_e = cin_s + _lognormal(rng, 240, 0.6, m, 30, 1500)
        close = np.where(cin, cin_e + rng.integers(0, 31, m), close)
        rows.add("cin_plans", cin, child=idx, start=cin_s, end=cin_e)

        # child protection: plan, then step down to a CIN plan, a second plan, or closure
        cp = kind == CP
        cp_s = a1 + rng.integers(1, 16, m)
        cp_e = cp_s + _lognormal(rng, 250, 0.65, m, 20, 1800)
        after = _pick(rng, (0.55, 0.10, 0.35), m)
        step = cp & (after <= 1)
        sd_s = cp_e
        sd_e = sd_s + np.where(
            after == 1, rng.integers(60, 240, m), _lognormal(rng, 150, 0.5, m, 30, 900)
        )
        rows.add("cin_plans", step, child=idx, start=sd_s, end=sd_e)
        second = cp & (after == 1)
        cp2_s = sd_e
        cp2_e = cp2_s + _lognormal(rng, 220, 0.6, m, 20, 1500)
        category = np.where(rng.random(m) < 0.2, _pick(rng, (45, 9, 35, 4, 7), m),
                            self.category[idx])  # fmt: skip
        close = np.where(
            cp,
            np.where(after == 0, sd_e, np.where(after == 1, cp2_e, cp_e)) + rng.integers(0, 31, m),
            close,
        )

        # care: in an emergency, after a CP plan, or planned after the assessment
        cla = kind == CLA
        route = _pick(rng, (0.35, 0.35, 0.30), m)
        via_cp_e = cp_s + _lognormal(rng, 150, 0.6, m, 20, 700)
        c0 = np.where(
            route == 0,
            r + rng.integers(0, 4, m),
            np.where(route == 1, via_cp_e, a1 + rng.integers(1, 41, m)),
        )
        cla &= c0 < dob18 - 30
        cp_before_care = cla & (route == 1)
        plan_rows = np.concatenate([np.flatnonzero(cp), np.flatnonzero(cp_before_care)])
        rows.add(
            "cp_plans",
            child=idx[plan_rows],
            start=cp_s[plan_rows],
            end=np.where(cp[plan_rows], cp_e[plan_rows], via_cp_e[plan_rows]),
            category=category[plan_rows],
        )
        rows.add("cp_plans", second, child=idx, start=cp2_s, end=cp2_e, category=category)
        ci = np.flatnonzero(cla)
        c1, leave = self._periods(idx[ci], c0[ci], route[ci])
        home = np.isin(leave, _RETURNED_HOME)
        post_e = c1 + _lognormal(rng, 180, 0.5, len(ci), 30, 900)
        rows.add("cin_plans", home, child=idx[ci], start=c1, end=post_e)
        close[ci] = np.where(home, post_e, c1) + rng.integers(0, 31, len(ci))
        adopted = np.zeros(m, bool)
        adopted[ci] = np.isin(leave, _index(RC, "E11", "E12"))
        # a CP plan that ended because the child came into care keeps the case open until then
        close = np.where((kind == CLA) & ~cla, cp_e + rng.integers(0, 31, m), close)
        rows.add(
            "cp_plans",
            (kind == CLA) & ~cla & (route == 1),
            child=idx,
            start=cp_s,
            end=cp_e,
            category=category,
        )

        # short breaks for disabled children, under a CIN plan
        sb = kind == SHORT_BREAK
        sb_s = a1 + rng.integers(0, 21, m)
        sb_e = sb_s + _lognormal(rng, 600, 0.5, m, 180, 2000)
        rows.add("cin_plans", sb, child=idx, start=sb_s, end=sb_e)
        rows.add(
            "short_breaks",
            sb,
            child=idx,
            start=sb_s + rng.integers(14, 61, m),
            end=sb_e - 7,
            variant=np.where(rng.random(m) < 0.3, V3, V4),
            ptype=np.where(rng.random(m) < 0.6, PT.index("K2"), PT.index("U6")),
        )
        close = np.where(sb, sb_e + rng.integers(0, 31, m), close)

        close = np.minimum(np.maximum(close, np.where(assessed, a1, r)), dob18)
        rows.add(
            "referrals",
            child=idx,
            rid=rid,
            day=r,
            source=source,
            outcome=outcome,
            close=close,
        )
        rows.add("assessments", assessed, child=idx, rid=rid, start=a0, end=a1)
        rows.add("cases", assessed, child=idx, start=r, end=close)
        return close, adopted

    # -- periods of care: a plan, its legal-status phases and its end

    def _periods(self, child: Arr, c0: Arr, route: Arr) -> tuple[Arr, Arr]:
        rng = self.rng
        n = len(c0)
        dob, dob18 = self.dob[child], self.dob18[child]
        age = (c0 - dob) / 365.25
        band = np.searchsorted(np.array([1, 5, 10, 16]), age, side="right")
        plan = _pick_rows(rng, _PLAN_W, band)

        # proceedings got quicker after the 26-week limit (2014): ~44 weeks in 2011, ~27 by 2015
        year = 1970 + c0 / 365.25
        mean_weeks = np.clip(44 - 4 * (year - 2011), 27, 44)
        proc = np.maximum(np.rint(rng.gamma(6.0, mean_weeks / 6.0) * 7), 56).astype(np.int64)

        st = np.full((n, 4), -1, np.int64)
        sd = np.full((n, 4), _FAR, np.int64)
        u = rng.random(n)
        pre = np.where(u < 0.10, L1, np.where(u < 0.15, L2, -1))
        pre = np.where(plan == REMAND, -1, pre)
        pre_len = np.where(pre == L1, rng.integers(1, 4, n), rng.integers(3, 9, n))
        pre_len = np.where(pre >= 0, pre_len, 0)
        st[:, 0], sd[:, 0] = pre, np.where(pre >= 0, c0, _FAR)
        t = c0 + pre_len

        v = rng.random(n)
        uses_c1 = (
            ((plan == MEDIUM) & (v < 0.45))
            | (plan == SGO)
            | ((plan == ADOPTION) & (v < 0.85))
            | ((plan == LONG) & (age < 15) & (v < 0.75))
        ) & (age < 16.5)
        prelude = uses_c1 & (plan != MEDIUM) & (rng.random(n) < 0.3)
        prelude_len = np.where(prelude, rng.integers(20, 151, n), 0)
        main = np.where(plan == REMAND, np.where(rng.random(n) < 0.75, J1, J2), V2)
        has_main = ~uses_c1 | prelude
        st[:, 1], sd[:, 1] = np.where(has_main, main, -1), np.where(has_main, t, _FAR)
        c1_start = t + prelude_len
        st[:, 2], sd[:, 2] = np.where(uses_c1, C1, -1), np.where(uses_c1, c1_start, _FAR)
        final = np.where(uses_c1, c1_start + proc, _FAR)

        end = np.full(n, _FAR, np.int64)
        end = np.where(plan == SHORT, t + _lognormal(rng, 21, 0.7, n, 2, 56), end)
        end = np.where(
            plan == MEDIUM,
            np.where(uses_c1, final, t + _lognormal(rng, 240, 0.55, n, 57, 1100)),
            end,
        )
        sgo_later = rng.random(n) < 0.25
        end = np.where(
            plan == SGO, np.where(sgo_later, final + rng.integers(120, 600, n), final), end
        )
        # adoption: placement order at the final hearing, placed ~18 months after entering care
        adopt = plan == ADOPTION
        same_carer = rng.random(n) < 0.18
        fostering_to_adopt = adopt & uses_c1 & same_carer & (rng.random(n) < 0.3)
        placed = np.where(
            uses_c1,
            np.maximum(
                c0 + _lognormal(rng, 550, 0.3, n, 200, 1500), final + rng.integers(20, 90, n)
            ),
            c0 + _lognormal(rng, 420, 0.4, n, 60, 1200),
        )
        placed = np.where(fostering_to_adopt, final, placed)
        placed = np.where(adopt, placed, -1)
        end = np.where(adopt, placed + rng.integers(70, 300, n), end)
        until_18 = rng.random(n) < 0.7
        long_end = np.where(
            until_18,
            dob18,
            np.maximum(
                c0 + _lognormal(rng, 1500, 0.5, n, 400, 5000), np.where(uses_c1, final + 60, 0)
            ),
        )
        end = np.where(plan == LONG, long_end, end)
        end = np.where(plan == REMAND, c0 + rng.integers(3, 91, n), end)
        end = np.minimum(np.maximum(end, c0 + 1), dob18)
        at_18 = end >= dob18

        after_final = (
            (plan == ADOPTION) & uses_c1 | ((plan == SGO) & sgo_later) | ((plan == LONG) & uses_c1)
        )
        st[:, 3] = np.where(after_final, np.where(plan == ADOPTION, E1, C2), -1)
        sd[:, 3] = np.where(after_final, final, _FAR)
        gone = (sd >= end[:, None]) & (np.arange(4)[None, :] > 0)
        st[gone], sd[gone] = -1, _FAR

        leave = np.full(n, -1, np.int64)
        for p, (codes, weights) in _LEAVE.items():
            draw = _index(RC, *codes)[_pick(rng, weights, n)]
            leave = np.where(plan == p, draw, leave)
        leave = np.where(at_18, _index(RC, *_LEAVE_AT_18[0])[_pick(rng, _LEAVE_AT_18[1], n)], leave)

        self.rows.add(
            "periods",
            child=child,
            c0=c0,
            c1=end,
            leave=leave,
            plan=plan,
            route=route,
            final=np.where(uses_c1, np.minimum(final, end), -1),
            issue=np.where(uses_c1, np.maximum(c1_start - rng.integers(0, 3, n), c0), -1),
            placed=placed,
            same_carer=same_carer,
            **{f"st{i}": st[:, i] for i in range(4)},
            **{f"sd{i}": sd[:, i] for i in range(4)},
        )
        return end, leave

    # -- after all rounds: episodes and everything hanging off periods of care and cases

    def episodes(self) -> tuple[dict[str, Arr], dict[str, Arr]]:
        """SSDA903 episodes from the periods of care; also returns the periods."""
        rng = self.rng
        names = (
            "child",
            "c0",
            "c1",
            "leave",
            "plan",
            "route",
            "final",
            "issue",
            "placed",
            "same_carer",
            "st0",
            "st1",
            "st2",
            "st3",
            "sd0",
            "sd1",
            "sd2",
            "sd3",
        )
        per = self.rows.get("periods", names)
        n = len(per["c0"])
        c0, c1, plan = per["c0"], per["c1"], per["plan"]
        dob = self.dob[per["child"]]
        adopt = plan == ADOPTION
        pend = np.where(adopt, per["placed"], c1)  # placements before the adoptive placement

        # placement moves: a Poisson process per period, faster for unstable children
        rate = np.array(_MOVE_RATES)[_pick(rng, _MOVE_CLASSES, n)]
        span = np.maximum(pend - c0, 0)
        moves = np.where(plan == REMAND, 0, rng.poisson(rate * span / 365.25))
        moves = np.minimum(moves, np.maximum(span - 2, 0)).astype(np.int64)
        mv_p = _owner(moves)
        mv_day = c0[mv_p] + 1 + (rng.random(len(mv_p)) * (span[mv_p] - 1)).astype(np.int64)
        early = (rng.random(n) < np.where(per["route"] == 0, 0.3, 0.15)) & (span > 10)
        early &= plan != REMAND
        ep = np.flatnonzero(early)
        ep_day = c0[ep] + rng.integers(2, np.minimum(43, span[ep]))
        # some moves come with a change of legal status (reason B): out of police protection,
        # or to a long-term placement at the final hearing
        lc_p = np.concatenate([np.arange(n)] * 3)
        lc_day = np.concatenate([per[f"sd{i}"] for i in (1, 2, 3)])
        lc = (lc_day > c0[lc_p]) & (lc_day < pend[lc_p]) & (rng.random(len(lc_p)) < 0.25)
        lc &= plan[lc_p] != REMAND
        pl_p = np.concatenate([np.arange(n), mv_p, ep, lc_p[lc]])
        pl_day = np.concatenate([c0, mv_day, ep_day, lc_day[lc]])
        key = _key(pl_p, pl_day)
        key, first = np.unique(key, return_index=True)
        pl_p, pl_day = pl_p[first], pl_day[first]
        m = len(pl_p)
        age = (pl_day - dob[pl_p]) / 365.25
        band = np.searchsorted(np.array([5, 12, 16]), age, side="right")
        ptype = _PLACE_CHOICES[_pick_rows(rng, _PLACE_W, band)]
        remand = plan[pl_p] == REMAND
        ptype = np.where(remand, _index(PT, "K1", "K2", "U6")[_pick(rng, (3, 4, 3), m)], ptype)
        # the last placement is with the carers an SGO or staying put is made with
        last = np.ones(m, bool)
        last[:-1] = pl_p[1:] != pl_p[:-1]
        leave = per["leave"][pl_p]
        for codes, types in (
            (("E45",), ("U1", "U3")),
            (("E46",), ("U4", "U6")),
            (("E17",), ("U1", "U4", "U6")),
        ):
            hit = last & np.isin(leave, _index(RC, *codes)) & ~adopt[pl_p]
            ptype = np.where(hit, _index(PT, *types)[rng.integers(0, len(types), m)], ptype)
        provider = _pick_rows(rng, _PROVIDER_W, ptype)
        same = np.zeros(m, bool)

        # a short-term foster placement can become long-term with the same carer (reason T)
        nxt = np.where(last, pend[pl_p], np.roll(pl_day, -1))
        seg = nxt - pl_day
        becomes = (ptype == PT.index("U6")) & (seg > 400) & (rng.random(m) < 0.2)
        bi = np.flatnonzero(becomes)
        b_day = pl_day[bi] + rng.integers(180, 366, len(bi))

        # adoptive placements: with the current foster carer (A3/A5, reason T or U) or new adopters
        ai = np.flatnonzero(adopt & (per["placed"] < c1))
        a_po = per["final"][ai] >= 0  # placement order route (A5/A6) or with consent (A3/A4)
        a_same = per["same_carer"][ai]
        a_type = np.where(
            a_po,
            np.where(a_same, PT.index("A5"), PT.index("A6")),
            np.where(a_same, PT.index("A3"), PT.index("A4")),
        )

        # temporary absences of 7 days or less (T0-T4), returning to the same placement
        ti = np.flatnonzero((seg >= 21) & (rng.random(m) < 0.07) & ~remand & ~becomes)
        t_day = pl_day[ti] + rng.integers(3, seg[ti] - 9)
        t_len = rng.integers(1, 8, len(ti))
        t_type = _index(PT, "T0", "T1", "T2", "T3", "T4")[_pick(rng, (1, 2, 2, 3, 2), len(ti))]

        ev_p = np.concatenate([pl_p, pl_p[bi], ai, pl_p[ti], pl_p[ti]])
        ev_day = np.concatenate([pl_day, b_day, per["placed"][ai], t_day, t_day + t_len])
        ev_type = np.concatenate([ptype, np.full(len(bi), PT.index("U4")), a_type, t_type,
                                  ptype[ti]])  # fmt: skip
        ev_prov = np.concatenate([provider, provider[bi],
                                  _pick_rows(rng, _PROVIDER_W, a_type), provider[ti],
                                  provider[ti]])  # fmt: skip
        ev_same = np.concatenate(
            [same, np.ones(len(bi), bool), a_same, np.zeros(2 * len(ti), bool)]
        )
        ok = (ev_day < c1[ev_p]) | (ev_day == c0[ev_p])
        # a temporary absence must not straddle a legal-status change
        lg_p = np.concatenate([np.arange(n)] * 4)
        lg_st = np.concatenate([per[f"st{i}"] for i in range(4)])
        lg_day = np.concatenate([per[f"sd{i}"] for i in range(4)])
        has = lg_st >= 0
        lg_p, lg_st, lg_day = lg_p[has], lg_st[has], lg_day[has]
        lg_key = np.sort(_key(lg_p, lg_day))
        tp = m + len(bi) + len(ai) + np.arange(len(ti))
        nearest = np.searchsorted(lg_key, _key(ev_p[tp], ev_day[tp]), side="left")
        bad = np.zeros(len(tp), bool)
        inside = nearest < len(lg_key)
        bad[inside] = lg_key[nearest[inside]] <= _key(ev_p[tp], ev_day[tp] + t_len)[inside]
        ok[tp[bad]] = False
        ok[tp[bad] + len(ti)] = False  # and its return
        ev_p, ev_day, ev_type, ev_prov, ev_same = (
            a[ok] for a in (ev_p, ev_day, ev_type, ev_prov, ev_same)
        )

        # merge legal and placement events into episodes
        keys = np.concatenate([_key(ev_p, ev_day), _key(lg_p, lg_day)])
        gkey, inverse = np.unique(keys, return_inverse=True)
        g = len(gkey)
        g_type = np.full(g, -1, np.int64)
        g_prov = np.full(g, -1, np.int64)
        g_same = np.zeros(g, bool)
        g_legal = np.full(g, -1, np.int64)
        pe = inverse[: len(ev_p)]
        g_type[pe], g_prov[pe], g_same[pe] = ev_type, ev_prov, ev_same
        g_legal[inverse[len(ev_p) :]] = lg_st
        g_p = (gkey >> 21).astype(np.int64)
        g_day = (gkey & ((1 << 21) - 1)) + _KEY_BASE
        first = np.ones(g, bool)
        first[1:] = g_p[1:] != g_p[:-1]

        def ffill(values: Arr) -> Arr:
            at = np.where(values >= 0, np.arange(g), 0)
            out: Arr = values[np.maximum.accumulate(at)]
            return out

        legal = ffill(g_legal)
        prev_legal = np.concatenate(([-1], legal[:-1]))
        legal_change = ~first & (g_legal >= 0) & (g_legal != prev_legal)
        place_change = ~first & (g_type >= 0)
        conditions: list[Arr] = [
            first,
            place_change & g_same & legal_change,
            place_change & g_same,
            place_change & legal_change,
            place_change,
            legal_change,
        ]
        choices = [np.full(g, code, np.int64) for code in (R_S, R_U, R_T, R_B, R_P, R_L)]
        reason: Arr = np.select([c.astype(bool) for c in conditions], choices, -1)
        keep = reason >= 0
        e_p, e_day, e_reason = g_p[keep], g_day[keep], reason[keep]
        e_legal = legal[keep]
        e_type = ffill(np.where(g_type >= 0, g_type, -1))[keep]
        e_prov = ffill(np.where(g_type >= 0, g_prov, -1))[keep]
        # a provider-less placement keeps no provider (ffill above only follows placements)
        e_prov = np.where(e_prov >= len(PR), -1, e_prov)
        e_last = np.ones(len(e_p), bool)
        e_last[:-1] = e_p[1:] != e_p[:-1]
        e_end = np.where(e_last, c1[e_p], np.roll(e_day, -1))
        e_ceased = np.where(e_last, per["leave"][e_p], X1)
        episodes = {
            "child": per["child"][e_p],
            "start": e_day,
            "end": e_end,
            "reason": e_reason,
            "legal": e_legal,
            "ptype": e_type,
            "provider": e_prov,
            "ceased": e_ceased,
        }
        return episodes, per

    def short_break_episodes(self) -> dict[str, Arr]:
        rng = self.rng
        sb = self.rows.get("short_breaks", ("child", "start", "end", "variant", "ptype"))
        series = sb["variant"] == V4
        span = np.maximum(sb["end"] - sb["start"], 0)
        counts = np.where(series, span // 21 + 1, 0)
        who = _owner(counts)
        gap = np.where(_rank(counts) == 0, 0, rng.integers(21, 43, len(who)))
        start = sb["start"][who] + _seg_cumsum(gap, counts)
        end = start + rng.integers(1, 4, len(who))
        ok = (end <= sb["end"][who]) & (end < self.dob18[sb["child"][who]])
        who, start, end = who[ok], start[ok], end[ok]
        sb["end"] = np.minimum(sb["end"], self.dob18[sb["child"]] - 1)
        v3 = np.flatnonzero(~series & (sb["end"] > sb["start"]))
        child = np.concatenate([sb["child"][who], sb["child"][v3]])
        return {
            "child": child,
            "start": np.concatenate([start, sb["start"][v3]]),
            "end": np.concatenate([end, sb["end"][v3]]),
            "reason": np.full(len(child), R_S),
            "legal": np.concatenate([np.full(len(who), V4), np.full(len(v3), V3)]),
            "ptype": np.concatenate([sb["ptype"][who], sb["ptype"][v3]]),
            "provider": np.full(len(child), PR.index("PR1")),
            "ceased": np.full(len(child), E4A),
        }


# --- assembling a chunk ---------------------------------------------------------------------------


@dataclass
class _Counters:
    """Running id numbers across chunks, so that keys stay unique and in child order."""

    next: dict[str, int]

    def take(self, table: str, n: int) -> Arr:
        first = self.next.get(table, 1)
        self.next[table] = first + n
        return np.arange(first, first + n, dtype=np.int64)


def _chunk_tables(
    rng: np.random.Generator,
    clock: _Clock,
    onset: Arr,
    staff: _Staff,
    counters: _Counters,
) -> dict[str, pa.Table]:
    j = _Journeys(rng, clock, onset)
    j.simulate()
    rows = j.rows
    w = clock.id_width
    end_day = clock.end_day

    ref = rows.get("referrals", ("child", "rid", "day", "source", "outcome", "close"))
    cases = rows.get("cases", ("child", "start", "end"))
    episodes, per = j.episodes()
    sb = j.short_break_episodes()
    eps = {k: np.concatenate([episodes[k], sb[k]]) for k in episodes}

    # care leavers: looked after (not on short breaks) on or after the 16th birthday
    pc_child, pc0 = per["child"], per["c0"]
    pc1 = np.minimum(per["c1"], end_day + 1)
    d14, d16, d18 = (_birthday(j.dob[pc_child], y) for y in (14, 16, 18))
    after_14 = np.maximum(np.minimum(pc1, d18) - np.maximum(pc0, d14), 0)
    days_after_14 = np.bincount(pc_child, weights=after_14, minlength=j.n)
    past_16 = np.zeros(j.n, bool)
    past_16[pc_child[(pc1 > d16) & (pc0 < d18) & (pc0 <= end_day)]] = True
    qualifying = past_16 & (days_after_14 >= 91)

    # keep children whose records reach the history a 12-month window needs
    last_activity = np.full(j.n, -_FAR, np.int64)
    np.maximum.at(last_activity, ref["child"], ref["close"])
    last_activity = np.where(qualifying, np.maximum(last_activity, _birthday(j.dob, 21)),
                             last_activity)  # fmt: skip
    kept = last_activity >= clock.history_start
    number = np.full(j.n, -1, np.int64)
    number[kept] = counters.take("children", int(kept.sum()))

    def sel(cols: dict[str, Arr], start: str) -> dict[str, Arr]:
        ok = kept[cols["child"]] & (cols[start] <= end_day)
        return {k: v[ok] for k, v in cols.items()}

    def order(cols: dict[str, Arr], *by: str) -> Arr:
        keys = [cols[b] for b in reversed(by)] + [number[cols["child"]]]
        out: Arr = np.lexsort(keys)
        return out

    def child_ids(cols: dict[str, Arr], o: Arr) -> pa.Array:
        return _ids("C", number[cols["child"][o]], w)

    out: dict[str, pa.Table] = {}
    ci = np.flatnonzero(kept)
    out["children"] = _table(
        "children",
        {
            "child_id": _ids("C", number[ci], w),
            "date_of_birth": _dates(j.dob[ci], clock, nullable=False),
            "sex": _codes(contract.SEX_CODES, j.sex[ci]),
            "ethnicity": _codes(ETHNICITY, j.ethnicity[ci]),
            "disabled": _bools(j.disabled[ci], j.disabled_null[ci]),
        },
    )

    ref = sel(ref, "day")
    o = order(ref, "day")
    ref_number = np.full(j.n_referrals, -1, np.int64)
    ref_number[ref["rid"][o]] = counters.take("referrals", len(o))
    out["referrals"] = _table(
        "referrals",
        {
            "referral_id": _ids("R", ref_number[ref["rid"][o]], w),
            "child_id": child_ids(ref, o),
            "referral_date": _dates(ref["day"][o], clock, nullable=False),
            "source": _codes(REFERRAL_SOURCES, ref["source"][o]),
            "outcome": _codes(contract.REFERRAL_OUTCOMES, ref["outcome"][o]),
            "closure_date": _dates(ref["close"][o], clock),
        },
    )

    asm = sel(rows.get("assessments", ("child", "rid", "start", "end")), "start")
    o = order(asm, "start")
    out["assessments"] = _table(
        "assessments",
        {
            "assessment_id": _ids("A", counters.take("assessments", len(o)), w),
            "child_id": child_ids(asm, o),
            "referral_id": _ids("R", ref_number[asm["rid"][o]], w),
            "start_date": _dates(asm["start"][o], clock, nullable=False),
            "completed_date": _dates(asm["end"][o], clock),
        },
    )

    def cap18(cols: dict[str, Arr]) -> dict[str, Arr]:
        d18 = j.dob18[cols["child"]]
        ok = cols["start"] < d18
        cols = {k: v[ok] for k, v in cols.items()}
        cols["end"] = np.minimum(cols["end"], d18[ok])
        return cols

    cin = sel(cap18(rows.get("cin_plans", ("child", "start", "end"))), "start")
    o = order(cin, "start")
    out["cin_plans"] = _table(
        "cin_plans",
        {
            "cin_plan_id": _ids("N", counters.take("cin_plans", len(o)), w),
            "child_id": child_ids(cin, o),
            "start_date": _dates(cin["start"][o], clock, nullable=False),
            "end_date": _dates(cin["end"][o], clock),
        },
    )

    cp = sel(cap18(rows.get("cp_plans", ("child", "start", "end", "category"))), "start")
    o = order(cp, "start")
    cp = {k: v[o] for k, v in cp.items()}
    out["cp_plans"] = _table(
        "cp_plans",
        {
            "cp_plan_id": _ids("P", counters.take("cp_plans", len(o)), w),
            "child_id": _ids("C", number[cp["child"]], w),
            "start_date": _dates(cp["start"], clock, nullable=False),
            "end_date": _dates(cp["end"], clock),
            "category": _codes(contract.CP_CATEGORIES, cp["category"]),
        },
    )

    # CP visits every 10-14 days or so while a plan lasts
    span = np.minimum(cp["end"], end_day + 1) - cp["start"]
    counts = np.maximum(span // 6 + 2, 0)
    who = _owner(counts)
    gap = np.where(
        rng.random(len(who)) < 0.93,
        rng.integers(7, 15, len(who)),
        rng.integers(15, 26, len(who)),
    )
    gap = np.where(_rank(counts) == 0, rng.integers(0, 8, len(who)), gap)
    day = cp["start"][who] + _seg_cumsum(gap, counts)
    ok = (day < cp["end"][who]) & (day <= end_day)
    who, day = who[ok], day[ok]
    seen = rng.random(len(who)) < 0.95
    young = (day - j.dob[cp["child"][who]]) < 3 * 365
    alone = rng.random(len(who)) < 0.72
    vis = {"child": cp["child"][who], "day": day}
    o = order(vis, "day")
    out["cp_visits"] = _table(
        "cp_visits",
        {
            "visit_id": _ids("V", counters.take("cp_visits", len(o)), w),
            "child_id": child_ids(vis, o),
            "visit_date": _dates(day[o], clock, nullable=False),
            "child_seen": _bools(seen[o]),
            "seen_alone": _bools(alone[o] & seen[o], young[o]),
        },
    )

    e = sel(eps, "start")
    o = order(e, "start")
    e = {k: v[o] for k, v in e.items()}
    open_ = e["end"] > end_day
    out["cla_episodes"] = _table(
        "cla_episodes",
        {
            "episode_id": _ids("E", counters.take("cla_episodes", len(o)), w),
            "child_id": _ids("C", number[e["child"]], w),
            "start_date": _dates(e["start"], clock, nullable=False),
            "end_date": _dates(e["end"], clock),
            "reason_new_episode": _codes(RNE, e["reason"]),
            "legal_status": _codes(LS, e["legal"]),
            "placement_type": _codes(PT, e["ptype"]),
            "placement_provider": _codes(PR, e["provider"]),
            "reason_ceased": _codes(RC, np.where(open_, -1, e["ceased"])),
        },
    )

    # reviews: within 20 working days, then 3 months, then every 6 months
    p = {k: v for k, v in per.items()}
    p = sel(p, "c0")
    span = np.minimum(p["c1"], end_day + 1) - p["c0"]
    counts = span // 120 + 2
    who = _owner(counts)
    rank = _rank(counts)
    late = rng.random(len(who)) < 0.06
    dev = np.where(late, rng.integers(1, 31, len(who)), -rng.integers(0, 15, len(who)))
    first_due = j.clock.busday_offset(p["c0"], 20)
    gap = np.where(rank == 0, 0, np.where(rank == 1, 91, 182))
    review = first_due[who] + _seg_cumsum(gap + dev, counts)
    due = review - dev
    ok = (review < p["c1"][who]) & (review <= end_day)
    who, review, due = who[ok], review[ok], due[ok]
    young = (review - j.dob[p["child"][who]]) < 4 * 365
    took_part = rng.random(len(who)) < 0.93
    rv = {"child": p["child"][who], "day": review}
    o = order(rv, "day")
    out["cla_reviews"] = _table(
        "cla_reviews",
        {
            "review_id": _ids("RV", counters.take("cla_reviews", len(o)), w),
            "child_id": child_ids(rv, o),
            "review_date": _dates(review[o], clock, nullable=False),
            "due_date": _due_dates(due[o]),
            "child_participated": _bools(took_part[o], young[o]),
        },
    )

    # statutory visits: within a week of entering care, then at least every six weeks
    counts = span // 30 + 2
    who = _owner(counts)
    rank = _rank(counts)
    late = rng.random(len(who)) < 0.09
    dev = np.where(late, rng.integers(1, 22, len(who)), -rng.integers(0, 11, len(who)))
    gap = np.where(rank == 0, 7, 42) + dev
    visit = p["c0"][who] + _seg_cumsum(gap, counts)
    due = visit - dev
    ok = (visit < p["c1"][who]) & (visit <= end_day)
    who, visit, due = who[ok], visit[ok], due[ok]
    lv = {"child": p["child"][who], "day": visit}
    o = order(lv, "day")
    out["cla_visits"] = _table(
        "cla_visits",
        {
            "visit_id": _ids("LV", counters.take("cla_visits", len(o)), w),
            "child_id": child_ids(lv, o),
            "visit_date": _dates(visit[o], clock, nullable=False),
            "due_date": _due_dates(due[o]),
        },
    )

    # missing episodes: from care (teenagers, some very often) and from home
    mi_child, mi_start = _missing(rng, clock, j, p, cases)
    looked_after = _in_period(mi_child, mi_start // _SECONDS, eps)
    hours = np.clip(9 * np.exp(1.25 * rng.standard_normal(len(mi_child))), 0.5, 24 * 30)
    mi_end = mi_start + (hours * 3600).astype(np.int64)
    mi = {"child": mi_child, "start": mi_start, "end": mi_end, "la": looked_after}
    mi = {k: v[kept[mi_child]] for k, v in mi.items()}
    o = order(mi, "start")
    mi = {k: v[o] for k, v in mi.items()}
    for _ in range(3):  # episodes of one child do not overlap
        same = np.concatenate(([False], mi["child"][1:] == mi["child"][:-1]))
        clash = same & (mi["start"] <= np.concatenate(([0], mi["end"][:-1])))
        if not clash.any():
            break
        mi = {k: v[~clash] for k, v in mi.items()}
    extract_moment = (end_day + 1) * _SECONDS
    still_missing = mi["end"] >= extract_moment
    out["missing_episodes"] = _table(
        "missing_episodes",
        {
            "missing_id": _ids("M", counters.take("missing_episodes", len(mi["child"])), w),
            "child_id": _ids("C", number[mi["child"]], w),
            "start_datetime": pa.array(mi["start"]).cast(pa.timestamp("s")),
            "end_datetime": pa.array(
                np.where(still_missing, 0, mi["end"]), mask=still_missing
            ).cast(pa.timestamp("s")),
            "looked_after": _bools(mi["la"]),
        },
    )

    # care proceedings: issued when the interim care order starts, final order ends C1
    pr = {"child": p["child"], "issue": p["issue"], "final": p["final"]}
    pr = {k: v[p["issue"] >= 0] for k, v in pr.items()}
    pr = {k: v[pr["issue"] <= end_day] for k, v in pr.items()}
    o = order(pr, "issue")
    out["care_proceedings"] = _table(
        "care_proceedings",
        {
            "proceedings_id": _ids("CP", counters.take("care_proceedings", len(o)), w),
            "child_id": child_ids(pr, o),
            "issue_date": _dates(pr["issue"][o], clock, nullable=False),
            "final_order_date": _dates(pr["final"][o], clock),
        },
    )

    # adoptions: the first adoption plan of each child
    ad = {k: p[k] for k in ("child", "c0", "c1", "final", "placed")}
    ad = {k: v[p["plan"] == ADOPTION] for k, v in ad.items()}
    o = order(ad, "c0")
    ad = {k: v[o] for k, v in ad.items()}
    firsts = np.ones(len(ad["child"]), bool)
    firsts[1:] = ad["child"][1:] != ad["child"][:-1]
    ad = {k: v[firsts] for k, v in ad.items()}
    po = np.where(ad["final"] >= 0, ad["final"], _FAR)
    matched = np.maximum(ad["placed"] - rng.integers(7, 43, len(ad["child"])), ad["c0"])
    matched = np.where(ad["final"] >= 0, np.maximum(matched, ad["final"]), matched)
    out["adoptions"] = _table(
        "adoptions",
        {
            "child_id": _ids("C", number[ad["child"]], w),
            "entered_care_date": _dates(ad["c0"], clock, nullable=False),
            "placement_order_date": _dates(po, clock),
            "matched_date": _dates(matched, clock),
            "placed_date": _dates(ad["placed"], clock),
            "adoption_order_date": _dates(ad["c1"], clock),
        },
    )

    out.update(_care_leavers(rng, clock, j, past_16 & kept, qualifying, number, counters))
    out["case_audits"] = _audits(rng, clock, cases, kept, number, counters)
    out["allocations"] = _allocations(rng, clock, cases, kept, number, staff, counters)
    return out


def _in_period(child: Arr, day: Arr, eps: dict[str, Arr]) -> Arr:
    """Whether ``child`` is in a care episode on ``day``."""
    keys = _key(eps["child"], eps["start"])
    o = np.argsort(keys, kind="stable")
    keys, ends, owner = keys[o], eps["end"][o], eps["child"][o]
    at = np.searchsorted(keys, _key(child, day), side="right") - 1
    ok = at >= 0
    hit = np.zeros(len(child), bool)
    hit[ok] = (owner[at[ok]] == child[ok]) & (ends[at[ok]] > day[ok])
    return hit


def _missing(
    rng: np.random.Generator, clock: _Clock, j: _Journeys, p: dict[str, Arr], cases: dict[str, Arr]
) -> tuple[Arr, Arr]:
    """Children and start moments (seconds) of missing episodes, from care and from home."""
    parts_child, parts_start = [], []
    for child, lo, hi, age_from, weights, rates in (
        (p["child"], p["c0"], p["c1"], 10, (0.78, 0.17, 0.05), (0.0, 1.0, 7.0)),
        (cases["child"], cases["start"], cases["end"], 11, (0.82, 0.13, 0.05), (0.0, 2.0, 10.0)),
    ):
        lo = np.maximum(lo, _birthday(j.dob[child], age_from))
        hi = np.minimum(np.minimum(hi, j.dob18[child]), clock.end_day + 1)
        span = np.maximum(hi - lo, 0)
        rate = np.array(rates)[_pick(rng, weights, len(child))]
        counts = rng.poisson(rate * span / 365.25)
        who = _owner(counts)
        day = lo[who] + (rng.random(len(who)) * span[who]).astype(np.int64)
        hour = _pick(rng, (2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 9, 8, 6, 4, 3),
                     len(who))  # fmt: skip
        minute = rng.integers(0, 60, len(who))
        parts_child.append(child[who])
        parts_start.append(day * _SECONDS + hour * 3600 + minute * 60)
    return np.concatenate(parts_child), np.concatenate(parts_start)


def _care_leavers(
    rng: np.random.Generator,
    clock: _Clock,
    j: _Journeys,
    leavers: Arr,
    qualifying: Arr,
    number: Arr,
    counters: _Counters,
) -> dict[str, pa.Table]:
    ci = np.flatnonzero(leavers)
    w = clock.id_width
    table = _table(
        "care_leavers",
        {
            "child_id": _ids("C", number[ci], w),
            "date_of_birth": _dates(j.dob[ci], clock, nullable=False),
            "qualifying": _bools(qualifying[ci]),
        },
    )
    q = ci[qualifying[ci] & (j.dob18[ci] <= clock.end_day)]
    d18, d19, d21 = (_birthday(j.dob[q], y) for y in (18, 19, 21))
    # contacts near the 19th, 20th and 21st birthdays, and others in between
    bday_child = np.repeat(np.arange(len(q)), 3)
    bday = np.concatenate([_birthday(j.dob[q], y)[:, None] for y in (19, 20, 21)], axis=1).ravel()
    bday_day = bday + rng.integers(-60, 21, len(bday))
    hi = np.minimum(d21 + 30, clock.end_day)
    span = np.maximum(hi - d18, 0)
    extra = rng.poisson(2.5 * span / 365.25)
    ex_child = _owner(extra)
    ex_day = d18[ex_child] + (rng.random(len(ex_child)) * span[ex_child]).astype(np.int64)
    who = np.concatenate([bday_child, ex_child])
    day = np.concatenate([bday_day, ex_day])
    ok = (day <= clock.end_day) & (day >= d18[who])
    who, day = who[ok], day[ok]
    o = np.lexsort((day, number[q][who]))
    who, day = who[o], day[o]
    n = len(who)
    lost = (rng.random(len(q)) < 0.05)[who] & (day >= d19[who] - 90)
    in_touch = ~lost & (rng.random(n) < 0.97)
    p_eet = rng.beta(2.6, 1.8, len(q))[who]
    eet = rng.random(n) < p_eet
    eet_codes = _index(contract.ACTIVITY_CODES, "F1", "P1", "F2", "P2", "F4", "P4", "F5", "P5")
    neet_codes = _index(contract.ACTIVITY_CODES, "G4", "G5", "G6")
    activity = np.where(
        eet,
        np.where(rng.random(n) < 0.6, 0, eet_codes[rng.integers(0, 8, n)]),
        np.where(rng.random(n) < 0.6, 1, neet_codes[rng.integers(0, 3, n)]),
    )
    activity = np.where(in_touch, activity, np.where(rng.random(n) < 0.5, -1, 2))
    suitable = rng.random(n) < 0.96
    contacts = _table(
        "care_leaver_contacts",
        {
            "contact_id": _ids("K", counters.take("care_leaver_contacts", n), w),
            "child_id": _ids("C", number[q][who], w),
            "contact_date": _dates(day, clock, nullable=False),
            "in_touch": _bools(in_touch),
            "activity": _codes(contract.ACTIVITY_CODES, activity),
            "accommodation_suitable": _bools(suitable, ~in_touch),
        },
    )
    return {"care_leavers": table, "care_leaver_contacts": contacts}


def _audits(
    rng: np.random.Generator,
    clock: _Clock,
    cases: dict[str, Arr],
    kept: Arr,
    number: Arr,
    counters: _Counters,
) -> pa.Table:
    """Case file audits of open cases: ~0.16 a case-year, ~90% requires improvement or better."""
    lo = np.maximum(cases["start"], clock.history_start)
    hi = np.minimum(cases["end"], clock.end_day)
    span = np.where(kept[cases["child"]], np.maximum(hi - lo, 0), 0)
    counts = rng.poisson(0.16 * span / 365.25)
    who = _owner(counts)
    day = lo[who] + (rng.random(len(who)) * span[who]).astype(np.int64)
    child = cases["child"][who]
    o = np.lexsort((day, number[child]))
    n = len(o)
    return _table(
        "case_audits",
        {
            "audit_id": _ids("Q", counters.take("case_audits", n), clock.id_width),
            "child_id": _ids("C", number[child[o]], clock.id_width),
            "audit_date": _dates(day[o], clock, nullable=False),
            "grade": _codes(contract.AUDIT_GRADES, _pick(rng, (4, 31, 55, 10), n)),
            "audit_type": _codes(contract.AUDIT_TYPES, (rng.random(n) < 0.13).astype(np.int64)),
        },
    )


def _allocations(
    rng: np.random.Generator,
    clock: _Clock,
    cases: dict[str, Arr],
    kept: Arr,
    number: Arr,
    staff: _Staff,
    counters: _Counters,
) -> pa.Table:
    """Each open case is held by a caseholding post; when its worker leaves, their successor."""
    ok = kept[cases["child"]] & (cases["start"] <= clock.end_day)
    child, start, end = cases["child"][ok], cases["start"][ok], cases["end"][ok]
    post = staff.caseholding_posts[rng.integers(0, len(staff.caseholding_posts), len(child))]
    parts: list[tuple[Arr, Arr, Arr, Arr]] = []
    while len(child):
        stint = np.searchsorted(staff.key, _key(post, start), side="right") - 1
        stint_end = staff.end[stint]
        parts.append((child, staff.number[stint], start, np.minimum(end, stint_end)))
        more = (end > stint_end) & (stint_end < clock.end_day)
        child, post, start, end = child[more], post[more], stint_end[more] + 1, end[more]
    a_child, a_staff, a_start, a_end = (np.concatenate(x) for x in zip(*parts, strict=True))
    o = np.lexsort((a_start, number[a_child]))
    return _table(
        "allocations",
        {
            "allocation_id": _ids("AL", counters.take("allocations", len(o)), clock.id_width),
            "child_id": _ids("C", number[a_child[o]], clock.id_width),
            "staff_id": _ids("S", a_staff[o], clock.id_width),
            "start_date": _dates(a_start[o], clock, nullable=False),
            "end_date": _dates(a_end[o], clock),
        },
    )


# --- the generator --------------------------------------------------------------------------------

CHILD_TABLES = (
    "children", "referrals", "assessments", "cin_plans", "cp_plans", "cp_visits", "cla_episodes",
    "cla_reviews", "cla_visits", "missing_episodes", "care_proceedings", "adoptions",
    "care_leavers", "care_leaver_contacts", "case_audits", "allocations",
)  # fmt: skip


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=stream)))


def _onset_chunks(
    clock: _Clock, scale: float, seed: int
) -> list[tuple[int, Arr, Arr]]:  # (chunk, month start days, counts)
    """New children per month (Poisson around a seasonal, slowly rising rate), grouped in chunks."""
    rng = _rng(seed, 0)
    m0 = np.datetime64(clock.sim_start, "D").astype("datetime64[M]")
    m1 = np.datetime64(clock.end_day, "D").astype("datetime64[M]")
    months = np.arange(m0, m1 + 1)
    year = months.astype(np.int64) / 12 + 1970
    season = np.array(_SEASON)[months.astype(np.int64) % 12]
    rate = NEW_CHILDREN_PER_MONTH * scale * season * (1 + 0.02 * (year - 2010))
    counts = rng.poisson(rate)
    first_days = (months.astype("datetime64[D]") - _EPOCH).astype(np.int64)
    chunks: list[tuple[int, Arr, Arr]] = []
    lo = 0
    total = np.cumsum(counts)
    while lo < len(months):
        base = total[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(total, base + CHUNK_CHILDREN, side="right")))
        chunks.append((len(chunks), first_days[lo:hi], counts[lo:hi]))
        lo = hi
    return chunks


def _onsets(rng: np.random.Generator, clock: _Clock, first_days: Arr, counts: Arr) -> Arr:
    months = first_days.astype("datetime64[D]").astype("datetime64[M]")
    month_len = ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(
        np.int64
    )
    who = _owner(counts)
    day = first_days[who] + (rng.random(len(who)) * month_len[who]).astype(np.int64)
    # fewer referrals at weekends: most move to the Monday
    wd = _weekday(day)
    moved = np.where(wd >= 5, day + 7 - wd, day)
    day = np.where((wd >= 5) & (rng.random(len(who)) < 0.75) & (moved <= clock.end_day), moved, day)
    out: Arr = np.sort(np.minimum(day, clock.end_day))
    return out


def iter_extract(
    scale: float = 1.0,
    seed: int = 2016,
    start: str = "2010-04",
    end: str = "2016-03",
    progress: Progress | None = None,
) -> Iterator[dict[str, pa.Table]]:
    """Generate the extract as a stream of parts (Arrow tables with exactly the contract columns).

    The first part holds the area, workforce, finance and youth offending tables; each further
    part one chunk of children with all their records. Concatenated in order, every table is
    sorted by its key.
    """
    clock = _clock(scale, start, end)
    say = progress or (lambda _m: None)
    staff, staff_table = _staff(_rng(seed, 1), clock, scale)
    first: dict[str, pa.Table] = {
        "population": _population(_rng(seed, 2), clock, scale),
        "staff": staff_table,
        **_staff_activity(_rng(seed, 3), clock, staff, staff_table),
        "finance": _finance(_rng(seed, 4), clock, scale),
        **_yos(_rng(seed, 5), clock, scale),
    }
    say(f"area, workforce, finance and youth offending tables ({staff_table.num_rows:,} staff)")
    yield first
    counters = _Counters({})
    chunks = _onset_chunks(clock, scale, seed)
    for k, first_days, counts in chunks:
        rng = _rng(seed, 10, k)
        onset = _onsets(rng, clock, first_days, counts)
        part = _chunk_tables(rng, clock, onset, staff, counters)
        say(
            f"children chunk {k + 1}/{len(chunks)}: {part['children'].num_rows:,} children, "
            f"{part['referrals'].num_rows:,} referrals"
        )
        yield part


def generate(
    scale: float = 1.0, seed: int = 2016, start: str = "2010-04", end: str = "2016-03"
) -> dict[str, pd.DataFrame]:
    """A synthetic extract in memory: table name → DataFrame with the contract's columns, in order.

    Dates are datetime64, booleans nullable ``boolean``, identifiers strings.
    """
    parts: dict[str, list[pa.Table]] = {}
    for part in iter_extract(scale, seed, start, end):
        for name, t in part.items():
            parts.setdefault(name, []).append(t)
    return {
        name: _to_pandas(pa.concat_tables(parts[name])) for name in contract.TABLES if name in parts
    }


def _to_pandas(t: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = t.to_pandas(
        date_as_object=False,
        types_mapper={pa.bool_(): pd.BooleanDtype()}.get,
    )
    return frame


def _from_pandas(name: str, frame: pd.DataFrame) -> pa.Table:
    schema = _schema(name)
    columns = {}
    for f in schema:
        values = frame[f.name]
        if pa.types.is_boolean(f.type):
            arr = pa.array(values.astype("boolean"), type=pa.bool_())
        elif pa.types.is_string(f.type):
            arr = pa.array(values.astype("object").where(values.notna(), None), type=pa.string())
        else:
            arr = pa.array(values).cast(f.type)
        columns[f.name] = arr
    return _table(name, columns)


def manifest_for(
    scale: float = 1.0, seed: int = 2016, start: str = "2010-04", end: str = "2016-03"
) -> dict[str, Any]:
    """The manifest of a generated extract: enough to regenerate it byte for byte."""
    clock = _clock(scale, start, end)
    extract_date = np.datetime64(clock.end_day + 1, "D")
    return {
        "authority": AUTHORITY,
        "extract_date": str(extract_date),
        "source_system": SOURCE_SYSTEM,
        "contract_version": contract.CONTRACT_VERSION,
        "generator": {
            "version": GENERATOR_VERSION,
            "scale": float(scale),
            "seed": int(seed),
            "start": start,
            "end": end,
        },
    }


class _Writer:
    """Writes tables part by part to temporary files, then renames them all into place."""

    def __init__(self, out_dir: Path, fmt: Format) -> None:
        if fmt not in ("parquet", "csv"):
            raise GenerationError(f"format must be parquet or csv (not {fmt!r})")
        self.out_dir = out_dir
        self.fmt = fmt
        self.temps: dict[str, Path] = {}
        self.writers: dict[str, Any] = {}
        self.rows: dict[str, int] = {}
        out_dir.mkdir(parents=True, exist_ok=True)
        umask = os.umask(0)
        os.umask(umask)
        self.mode = 0o666 & ~umask  # what a plain open() would give, not mkstemp's 0600

    def _temp(self, name: str) -> Path:
        fd, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.out_dir)
        os.fchmod(fd, self.mode)
        os.close(fd)
        return Path(path)

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.writers:
            self.temps[name] = self._temp(name)
            self.rows[name] = 0
            if self.fmt == "parquet":
                self.writers[name] = pq.ParquetWriter(
                    str(self.temps[name]), table.schema, **_PARQUET_OPTIONS
                )
            else:
                self.writers[name] = pa_csv.CSVWriter(
                    str(self.temps[name]),
                    _csv_schema(table.schema),
                    write_options=pa_csv.WriteOptions(quoting_style="none", quoting_header="none"),
                )
        if table.num_rows == 0 and self.rows[name] > 0:
            return
        self.rows[name] += table.num_rows
        if self.fmt == "parquet":
            self.writers[name].write_table(table, row_group_size=1 << 22)
        else:
            self.writers[name].write_table(_csv_ready(table))

    def finish(self, manifest: Mapping[str, Any]) -> dict[str, int]:
        for w in self.writers.values():
            w.close()
        for name, temp in self.temps.items():
            os.replace(temp, self.out_dir / f"{name}.{self.fmt}")
        data = {**manifest, "rows": dict(sorted(self.rows.items()))}
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        temp = self._temp("manifest")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, self.out_dir / "manifest.yaml")
        return dict(self.rows)

    def abort(self) -> None:
        for w in self.writers.values():
            with contextlib.suppress(Exception):  # best effort: the run is failing anyway
                w.close()
        for temp in self.temps.values():
            temp.unlink(missing_ok=True)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, pa.string() if pa.types.is_timestamp(f.type) else f.type) for f in schema]
    )


def _csv_ready(table: pa.Table) -> pa.Table:
    """Datetimes as ISO ``YYYY-MM-DDTHH:MM:SS`` (Arrow would write a space)."""
    columns = [
        pc.strftime(c, format="%Y-%m-%dT%H:%M:%S") if pa.types.is_timestamp(c.type) else c
        for c in table.columns
    ]
    return pa.table(columns, schema=_csv_schema(table.schema))


def write_extract(
    tables: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    fmt: Format = "parquet",
    manifest: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Write ``tables`` as ``<table>.parquet|csv`` plus ``manifest.yaml``, each file atomically.

    Columns are written exactly as the contract lists them, with contract types (dates as dates).
    Returns the row count of each table.
    """
    writer = _Writer(Path(out_dir), fmt)
    try:
        for name in contract.TABLES:
            if name in tables:
                writer.write(name, _from_pandas(name, tables[name]))
        return writer.finish(manifest or {})
    except BaseException:
        writer.abort()
        raise


def generate_extract(
    out_dir: str | Path,
    scale: float = 1.0,
    seed: int = 2016,
    start: str = "2010-04",
    end: str = "2016-03",
    fmt: Format = "parquet",
    progress: Progress | None = None,
) -> dict[str, int]:
    """Generate and write an extract chunk by chunk (memory-bounded at national scale).

    Byte-identical to ``write_extract(generate(...), ...)`` when there is one chunk of children.
    """
    manifest = manifest_for(scale, seed, start, end)
    writer = _Writer(Path(out_dir), fmt)
    try:
        for part in iter_extract(scale, seed, start, end, progress):
            for name in contract.TABLES:
                if name in part:
                    writer.write(name, part[name])
        return writer.finish(manifest)
    except BaseException:
        writer.abort()
        raise
