"""Indicator definitions: what each indicator *is*, as strict, frozen pydantic models.

One YAML file per indicator; a folder of them with a ``set.yaml`` is a definition set. Loading
and checking (with file, line and column for every problem) is in ``kpi_engine.validation``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from enum import Enum, StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kpi_engine.expressions import FUNCTIONS, KEYWORDS, PERIOD_NAMES, substitute

RESERVED_NAMES = {*KEYWORDS, *FUNCTIONS, *PERIOD_NAMES}
"""Words a parameter may not be named."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Group(StrEnum):
    """Scorecard groups, in the order the seed's scorecard presents them."""

    children_in_need = "children_in_need"
    children_in_care = "children_in_care"
    workforce = "workforce"
    finance = "finance"
    youth_offending = "youth_offending"

    @property
    def label(self) -> str:
        return _GROUP_TITLES[self]


_GROUP_TITLES = {
    Group.children_in_need: "Children in need pathway",
    Group.children_in_care: "Children in care and care leavers",
    Group.workforce: "Workforce",
    Group.finance: "Finance",
    Group.youth_offending: "Youth offending",
}


class Unit(Enum):
    """How numerator and denominator become the reported value."""

    percent = "percent"  # 100 × n / d
    rate_per_10000 = "rate_per_10000"  # 10,000 × n / d (d: population aged 0-17)
    rate_per_1000 = "rate_per_1000"  # 1,000 × n / d
    mean = "mean"  # n / d: n sums a quantity over the d rows
    ratio = "ratio"  # n / d
    count = "count"  # n alone
    currency = "currency"  # n alone, in pounds

    @property
    def has_denominator(self) -> bool:
        return self not in (Unit.count, Unit.currency)

    @property
    def multiplier(self) -> float:
        return {
            Unit.percent: 100.0,
            Unit.rate_per_10000: 10_000.0,
            Unit.rate_per_1000: 1_000.0,
        }.get(self, 1.0)


class Polarity(StrEnum):
    higher_is_better = "higher_is_better"
    lower_is_better = "lower_is_better"


class Frequency(StrEnum):
    monthly = "monthly"
    quarterly = "quarterly"
    annual = "annual"

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "annual": 12}[self.value]


class Status(StrEnum):
    """Whether the measure can be computed."""

    active = "active"
    under_development = "under_development"  # declared in the seed, definition not yet agreed
    no_data_source = "no_data_source"  # the extract contract holds no data for it


class WindowType(StrEnum):
    in_period = "in_period"  # events dated within the reporting period (month, quarter, year)
    open_at_end = "open_at_end"  # records open on the period's last day
    rolling = "rolling"  # events within the N months ending at period end
    financial_year_to_date = "financial_year_to_date"  # events since 1 April
    latest_year = "latest_year"  # annual figures (population): the latest year <= period's year


class Window(_Model):
    """Which rows belong to a period."""

    type: WindowType
    months: int | None = Field(default=None, ge=1, le=120)
    """Length of a rolling window, in months (rolling only)."""
    lag_months: int = Field(default=0, ge=0, le=24)
    """Shift the window back by this many months (court data lags a month: B8)."""
    partial: bool = False
    """Report a period whose window reaches back before the first record of its table (a
    12-month figure from 3 months of data). Off by default, the seed's reading: such a period
    is NO DATA, never a figure over fewer months than its name says."""

    @model_validator(mode="after")
    def _months_only_for_rolling(self) -> Window:
        if self.type is WindowType.rolling and self.months is None:
            raise ValueError("a rolling window needs 'months'")
        if self.type is not WindowType.rolling and self.months is not None:
            raise ValueError(
                f"'months' applies to rolling windows only (type is {self.type.value})"
            )
        return self


class Count(_Model):
    """A numerator, denominator or measure: which rows of which table, and what is counted.

    A numerator without ``table`` is a subset of the denominator: the denominator's rows that
    also satisfy the numerator's ``filter``.
    """

    table: str | None = None
    """Extract table or derived table read."""
    window: Window | None = None
    """Overrides the definition's window (a population denominator, say)."""
    date: str | None = None
    """For in-period, rolling and year-to-date windows: the event date (column or expression)."""
    start: str | None = None
    """For open-at-end windows: the column holding the record's start date."""
    end: str | None = None
    """For open-at-end windows: the column holding the record's end date (null = still open)."""
    year: str | None = None
    """For latest-year windows: the column holding the year."""
    filter: str | None = None
    """Condition in the filter language; rows failing it are not counted."""
    count: Literal["rows", "distinct"] | None = None
    """Count rows (each occasion counts) or distinct values of ``key``."""
    key: str | None = None
    """What ``distinct`` counts (default child_id)."""
    sum: str | None = None
    """Instead of counting, add up this numeric expression (FTE, days, pounds)."""

    @model_validator(mode="after")
    def _count_or_sum(self) -> Count:
        if self.count is not None and self.sum is not None:
            raise ValueError("give either 'count' or 'sum', not both")
        if self.key is not None and self.count != "distinct":
            raise ValueError("'key' applies only with count: distinct")
        return self

    @property
    def is_subset(self) -> bool:
        return self.table is None


class Rating(_Model):
    """How a value is rated. Year-1 style: ``target`` (+ ``tolerance``, optional ``lower_bound``).

    Year-2 style: ``green`` and ``amber`` thresholds. Boundaries are inclusive and read with the
    definition's polarity. ``no_target`` (or no rating at all) means NO TARGET SET.
    """

    target: float | None = None
    """Year 1: at or better than this is ON TARGET."""
    tolerance: float | None = None
    """Year 1: not at target but at or better than this is IN TOLERANCE."""
    lower_bound: float | None = None
    """Year 1, two-sided bands: below this is a concern too (A5 'between 5 and 20%')."""
    green: float | None = None
    """Year 2: at or better than this is Green."""
    amber: float | None = None
    """Year 2: not Green but at or better than this is Amber; worse is Red."""
    no_target: str | None = None
    """Why there is no target ('TBC with HR'): rated NO TARGET SET."""

    @model_validator(mode="after")
    def _one_style(self) -> Rating:
        year1 = (
            self.target is not None or self.tolerance is not None or self.lower_bound is not None
        )
        year2 = self.green is not None or self.amber is not None
        if sum([year1, year2, self.no_target is not None]) > 1:
            raise ValueError("use one rating style: target/tolerance, green/amber, or no_target")
        if year1 and self.target is None:
            raise ValueError("'tolerance' and 'lower_bound' need a 'target'")
        if year2 and (self.green is None or self.amber is None):
            raise ValueError("thresholds need both 'green' and 'amber'")
        return self

    @property
    def has_target(self) -> bool:
        return self.target is not None or self.green is not None


class Breakdown(_Model):
    """Extra rows under the indicator, one per value of ``column``."""

    column: str
    """Column of the denominator's table (or of the measure's table) to break down by."""
    denominator: Literal["group", "total"] = "group"
    """'group': each value's numerator over its own denominator (a figure per funding stream);
    'total': each value's share of the whole denominator (A3: % of audits in each grade)."""
    categories: tuple[str, ...] | None = None
    """Every value reported, in order, with a row even when its count is zero (the seed asks
    A3 for "each category"). Default: the column's code list in the extract contract if it has
    one, else the values found. Values found beyond these follow, sorted."""

    @field_validator("categories")
    @classmethod
    def _distinct(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError("categories must be a non-empty list of distinct values")
        return v


class Benchmark(_Model):
    """Where the comparison figure comes from."""

    national: str | None = None
    """Indicator name in docs/reference/national_benchmarks.csv."""
    seed_value: float | None = None
    """A national figure the seed quotes (adoption: 547 days)."""
    note: str | None = None


class Definition(_Model):
    """One indicator."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=40)
    name: str = Field(min_length=3)
    group: Group
    contract: bool
    """A contract performance measure (the seed's ©)."""
    status: Status = Status.active
    status_note: str | None = None
    description: str = Field(min_length=10)
    source: str = Field(min_length=10)
    """Where the definition comes from: seed document and section, or statutory definition."""
    unit: Unit
    unit_label: str | None = None
    """What a mean or ratio is in: weeks, days, children per FTE."""
    rounding: int = Field(ge=0, le=4)
    """Decimal places reported; the value is rated at this precision."""
    polarity: Polarity
    frequency: Frequency
    window: Window | None = None
    numerator: Count | None = None
    denominator: Count | None = None
    rating: Rating = Rating()
    breakdown: Breakdown | None = None
    replaces: str | None = None
    """The id (in the previous definition set) of the measure this one replaces."""
    benchmark: Benchmark | None = None
    parameters: dict[str, float] = Field(default_factory=dict)
    """Named numbers the expressions use (``lookback_months: 12``): a reading an authority may
    choose differently, declared once and visibly, with the seed's value."""
    min_count: int | None = Field(default=None, ge=0, le=1000)
    """Fewer cases than this and the figure is flagged ``low_count`` (still rated, the caveat
    in its note). Default: the set's ``min_count``, else :data:`DEFAULT_MIN_COUNT`; 0 turns
    the flag off."""

    @field_validator("status_note")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v.strip() if v else v

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, v: dict[str, float]) -> dict[str, float]:
        for name, value in v.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name) or name in RESERVED_NAMES:
                raise ValueError(
                    f"parameter name {name!r} must be a lower-case word (a-z, 0-9, _) that is "
                    "not a keyword, a function or period_end"
                )
            if not math.isfinite(value):
                raise ValueError(f"parameter {name!r} must be a finite number (got {value!r})")
        return v

    @model_validator(mode="after")
    def _shape(self) -> Definition:
        if self.status is not Status.active:
            if self.status_note is None:
                raise ValueError(f"status {self.status.value} needs a 'status_note' saying why")
            return self
        if self.window is None:
            raise ValueError("an active definition needs a 'window'")
        if self.numerator is None:
            raise ValueError("an active definition needs a 'numerator'")
        if self.unit.has_denominator and self.denominator is None:
            raise ValueError(f"unit {self.unit.value} needs a 'denominator'")
        if not self.unit.has_denominator and self.denominator is not None:
            raise ValueError(f"unit {self.unit.value} takes no 'denominator'")
        if self.numerator.is_subset and self.denominator is None:
            raise ValueError("the numerator names no 'table' and there is no denominator")
        if self.denominator is not None and self.denominator.is_subset:
            raise ValueError("the denominator needs a 'table'")
        return self

    def bound(self) -> Definition:
        """This definition with its ``parameters`` written into its expressions (what the
        engine evaluates); the definition itself, and its hash, keep the names."""
        if not self.parameters:
            return self

        def bind(spec: Count | None) -> Count | None:
            if spec is None:
                return None
            texts = {
                f: substitute(getattr(spec, f), self.parameters)
                for f in ("filter", "sum", "date")
                if getattr(spec, f) is not None
            }
            return spec.model_copy(update=texts)

        return self.model_copy(
            update={"numerator": bind(self.numerator), "denominator": bind(self.denominator)}
        )

    def content_hash(self) -> str:
        """A short, stable hash of everything that defines the indicator (for reproducibility).

        Fields added after the first release are left out while at their default, so a
        definition that does not use them keeps the hash it always had.
        """
        data = _without_later_defaults(self.model_dump(mode="json"))
        payload = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


DEFAULT_MIN_COUNT = 5
"""Figures from fewer cases are flagged ``low_count``: the usual small-number threshold in
published children's social care statistics. The seed warns that B8's averages "can be based on
very small numbers (<10)" (seed 001, lines 2043-2044); a set or definition may say 10."""

_LATER_FIELDS: dict[str, object] = {
    "min_count": None,
    "partial": False,
    "categories": None,
    "parameters": {},
}


def _without_later_defaults(data: object) -> object:
    if isinstance(data, dict):
        return {
            k: _without_later_defaults(v)
            for k, v in data.items()
            if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])
        }
    return data


class SetInfo(_Model):
    """``set.yaml``: what a definition set is."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    title: str
    description: str | None = None
    rating_scheme: Literal["status", "rag"] = "status"
    """How the seed speaks of ratings in this set: ON TARGET/IN TOLERANCE/... or Green/Amber/Red."""
    order: tuple[str, ...] = ()
    """Indicator ids in presentation order (the seed's order); others follow, sorted."""
    baseline_period: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")
    """Scorecard baseline month (YYYY-MM)."""
    min_count: int | None = Field(default=None, ge=0, le=1000)
    """The small-number threshold for every definition of the set that names none."""


class DefinitionSet(_Model):
    """A loaded definition set: its info and its definitions in presentation order."""

    info: SetInfo
    definitions: tuple[Definition, ...]
    path: str | None = None

    @property
    def name(self) -> str:
        return self.info.name

    def get(self, indicator_id: str) -> Definition:
        for d in self.definitions:
            if d.id == indicator_id:
                return d
        raise KeyError(indicator_id)

    @property
    def ids(self) -> list[str]:
        return [d.id for d in self.definitions]
