"""Year-on-year definition changes: classify each measure, list what changed, show the effect.

Classes, as the contract's annual review uses them (seed 001, "overview of changes for year 2"):

- **retained**: same id, same calculation (unit, frequency, window, what is counted and from
  which rows); a new target, tolerance, thresholds or wording alone is still retained, and the
  changes are listed;
- **revised**: same id, changed calculation or frequency;
- **replaced**: an old measure named by a new definition's ``replaces:``;
- **dropped**: an old measure neither kept nor replaced;
- **new**: a new measure that replaces nothing.

Meaning is compared, not text: filters and sums are compared as normalised expression trees
(``a and b`` equals ``b and a``; quotes, spacing and comments do not matter).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from kpi_engine.definitions import Count, Definition, DefinitionSet
from kpi_engine.expressions import normalise_text
from kpi_engine.render import describe_rating, describe_window, format_value

if TYPE_CHECKING:  # the engine is imported by impact(): comparing definitions needs none of it
    import pandas as pd


class Change(StrEnum):
    retained = "retained"
    revised = "revised"
    replaced = "replaced"
    dropped = "dropped"
    new = "new"


BREAKING = (Change.revised, Change.replaced, Change.dropped)
"""What ``--fail-on breaking`` fails on: the numbers are no longer comparable."""


@dataclass(frozen=True)
class FieldChange:
    """One field that differs, in words: ``frequency: monthly → quarterly``."""

    field: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.field}: {self.old} → {self.new}"


@dataclass(frozen=True)
class Entry:
    """One row of the overview: an old measure, a new one, or both."""

    change: Change
    old: Definition | None
    new: Definition | None
    calculation: tuple[FieldChange, ...] = ()
    """Changes to what is computed (why a measure is revised)."""
    other: tuple[FieldChange, ...] = ()
    """Changes to rating, wording or presentation (a retained measure may have these)."""

    @property
    def old_id(self) -> str | None:
        return self.old.id if self.old else None

    @property
    def new_id(self) -> str | None:
        return self.new.id if self.new else None

    @property
    def name(self) -> str:
        d = self.new or self.old
        assert d is not None
        return d.name

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        return self.calculation + self.other


@dataclass(frozen=True)
class SetDiff:
    old: DefinitionSet
    new: DefinitionSet
    entries: tuple[Entry, ...]

    def of(self, change: Change) -> list[Entry]:
        return [e for e in self.entries if e.change is change]

    def failing(self, fail_on: str) -> list[Entry]:
        """The entries ``--fail-on`` (none, breaking, any) fails the build on."""
        if fail_on == "none":
            return []
        if fail_on == "breaking":
            return [e for e in self.entries if e.change in BREAKING]
        return [e for e in self.entries if e.change is not Change.retained or e.changes]

    def fails(self, fail_on: str) -> bool:
        """Whether ``--fail-on`` (none, breaking, any) should fail the build."""
        return bool(self.failing(fail_on))

    def why_failing(self, fail_on: str) -> str:
        """What ``--fail-on`` fails on: '3 revised (A5, A6, B8); 5 dropped (A7, ...)'."""
        by_kind: dict[str, list[str]] = {}
        for e in self.failing(fail_on):
            kind = "retained with changes" if e.change is Change.retained else e.change.value
            by_kind.setdefault(kind, []).append(e.old_id or e.new_id or "")
        counts = [f"{len(ids)} {kind} ({', '.join(ids)})" for kind, ids in by_kind.items()]
        return "; ".join(counts)

    @property
    def labels(self) -> tuple[str, str]:
        """The sets' names, or their folders when the names are the same (a set and its edit)."""
        old, new = self.old.info.name, self.new.info.name
        if old == new:
            return self.old.path or old, self.new.path or new
        return old, new


# --- what a definition computes, in words -------------------------------------------------------


@dataclass(frozen=True)
class _Shown:
    """A field shown as its source text but compared by meaning (an expression)."""

    text: str
    meaning: str

    def __str__(self) -> str:
        return self.text


def _expression(text: str | None) -> str | _Shown:
    if text is None or not text.strip():
        return "none"
    return _Shown(" ".join(text.split()), normalise_text(text) or "none")


def _count_parts(c: Count | None) -> dict[str, str | _Shown]:
    if c is None:
        return {"": "none"}
    parts: dict[str, str | _Shown] = {
        "table": c.table or "(the denominator's rows)",
        "window": describe_window_of(c),
        "date": c.date or "",
        "start": c.start or "",
        "end": c.end or "",
        "year": c.year or "",
        "filter": _expression(c.filter),
        "counts": _Shown(f"sum of {_expression(c.sum)}", f"sum of {normalise_text(c.sum)}")
        if c.sum
        else ("distinct " + (c.key or "child_id") if c.count == "distinct" else "rows"),
    }
    return {k: v for k, v in parts.items() if v}


def describe_window_of(c: Count) -> str:
    if c.window is None:
        return "the indicator's"
    w = c.window
    text = w.type.value.replace("_", " ")
    if w.months:
        text += f" {w.months} months"
    if w.lag_months:
        text += f", lag {w.lag_months} month(s)"
    return text


def _calculation(d: Definition) -> dict[str, str | _Shown]:
    out: dict[str, str | _Shown] = {
        "status": d.status.value,
        "unit": d.unit.value,
        "frequency": d.frequency.value,
        "window": describe_window(d) if d.window is not None else "none",
        "breakdown": f"by {d.breakdown.column} ({d.breakdown.denominator})"
        if d.breakdown
        else "none",
        "parameters": ", ".join(f"{k} = {v:g}" for k, v in sorted(d.parameters.items())) or "none",
        "partial windows": "yes" if d.window is not None and d.window.partial else "no",
    }
    for part, spec in (("numerator", d.numerator), ("denominator", d.denominator)):
        for key, value in _count_parts(spec).items():
            out[f"{part} {key}".strip()] = value
    return out


def _presentation(d: Definition) -> dict[str, str]:
    return {
        "name": d.name,
        "rating": describe_rating(d),
        "polarity": d.polarity.value.replace("_", " "),
        "rounding": f"{d.rounding} decimal place(s)",
        "unit label": d.unit_label or "none",
        "group": d.group.label,
        "contract measure": "yes" if d.contract else "no",
        "description": " ".join(d.description.split()),
        "source": " ".join(d.source.split()),
        "benchmark": _benchmark(d),
    }


def _benchmark(d: Definition) -> str:
    b = d.benchmark
    if b is None:
        return "none"
    return b.national or (f"{b.seed_value:g}" if b.seed_value is not None else "none")


def _changes(
    old: Mapping[str, str | _Shown], new: Mapping[str, str | _Shown]
) -> tuple[FieldChange, ...]:
    """The fields that differ in meaning, each shown as its definitions write it."""

    def meaning(value: str | _Shown) -> str:
        return value.meaning if isinstance(value, _Shown) else value

    keys = list(dict.fromkeys([*old, *new]))
    return tuple(
        FieldChange(k, str(old.get(k, "none")), str(new.get(k, "none")))
        for k in keys
        if meaning(old.get(k, "none")) != meaning(new.get(k, "none"))
    )


def compare(old: DefinitionSet, new: DefinitionSet) -> SetDiff:
    """Classify every measure of ``old`` and ``new`` (old set's order, then new measures)."""
    new_by_id = {d.id: d for d in new.definitions}
    replacing: dict[str, Definition] = {}
    for d in new.definitions:
        if d.replaces is not None and d.replaces not in new_by_id:
            replacing.setdefault(d.replaces, d)
    entries: list[Entry] = []
    matched: set[str] = set()
    for o in old.definitions:
        if o.id in new_by_id:
            n = new_by_id[o.id]
            matched.add(n.id)
            calculation = _changes(_calculation(o), _calculation(n))
            other = _changes(_presentation(o), _presentation(n))
            kind = Change.revised if calculation else Change.retained
            entries.append(Entry(kind, o, n, calculation, other))
        elif o.id in replacing:
            n = replacing[o.id]
            matched.add(n.id)
            calculation = _changes(_calculation(o), _calculation(n))
            other = _changes(_presentation(o), _presentation(n))
            entries.append(Entry(Change.replaced, o, n, calculation, other))
        else:
            entries.append(Entry(Change.dropped, o, None))
    for n in new.definitions:
        if n.id not in matched:
            entries.append(Entry(Change.new, None, n))
    return SetDiff(old, new, tuple(entries))


# --- impact on the numbers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Impact:
    """Old and new definition computed on the same extract and period."""

    entry: Entry
    old_value: float
    new_value: float
    old_status: str
    new_status: str
    numerator_in: int | None = None
    """Children (or records) in the new numerator but not the old; None when one side is absent."""
    numerator_out: int | None = None
    denominator_in: int | None = None
    denominator_out: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def units(self) -> tuple[str, str] | None:
        """The old and new units when they differ: then the two figures are not subtracted."""
        old, new = self.entry.old, self.entry.new
        if old is None or new is None or _unit(old) == _unit(new):
            return None
        return _unit(old), _unit(new)

    @property
    def change(self) -> float:
        """New minus old; NaN across a change of unit (£8,000 to 0.3% is no change of -7,999.7)."""
        return math.nan if self.units else self.new_value - self.old_value


def _unit(d: Definition) -> str:
    return d.unit.value + (f" ({d.unit_label})" if d.unit_label else "")


def _headline(frame: pd.DataFrame, d: Definition | None) -> tuple[float, str, str]:
    if d is None:
        return math.nan, "", ""
    rows = frame[(frame.indicator_id == d.id) & (frame.breakdown == "")]
    if rows.empty:
        return math.nan, "", ""
    row = rows.iloc[-1]
    return float(row["value"]), str(row["status"]), str(row["note"])


def _who(frame: pd.DataFrame, flag: str) -> set[Any]:
    """The children (or records) flagged: by child_id where the rows carry one."""
    chosen = frame[frame[flag].to_numpy(dtype=bool)]
    for key in ("child_id", "staff_id", "young_person_id"):
        if key in chosen.columns:
            return set(chosen[key].dropna().astype(str))
    return set(chosen.index)


def _members(extract: Any, d: Definition | None, month: int) -> pd.DataFrame | None:
    from kpi_engine import engine

    if d is None:
        return None
    try:
        return engine.members(extract, d, month)
    except engine.NoData:
        return None


def impact(diff: SetDiff, extract: Any, month: int) -> list[Impact]:
    """Each changed or replaced measure's old and new figures for ``month``, with case churn."""
    from kpi_engine import engine

    old_frame = engine.compute(extract, diff.old, [month], definition_set=diff.old.info.name)
    new_frame = engine.compute(extract, diff.new, [month], definition_set=diff.new.info.name)
    out = []
    for e in diff.entries:
        if e.change is Change.retained and not e.changes:
            continue
        old_value, old_status, old_note = _headline(old_frame, e.old)
        new_value, new_status, new_note = _headline(new_frame, e.new)
        churn: list[int | None] = [None, None, None, None]
        before, after = _members(extract, e.old, month), _members(extract, e.new, month)
        if before is not None and after is not None:
            for i, flag in enumerate(("in_numerator", "in_denominator")):
                was, now = _who(before, flag), _who(after, flag)
                churn[2 * i], churn[2 * i + 1] = len(now - was), len(was - now)
        out.append(
            Impact(
                e,
                old_value,
                new_value,
                old_status,
                new_status,
                numerator_in=churn[0],
                numerator_out=churn[1],
                denominator_in=churn[2],
                denominator_out=churn[3],
                notes=tuple(n for n in (old_note, new_note) if n),
            )
        )
    return out


# --- rendering ------------------------------------------------------------------------------------


def overview_rows(diff: SetDiff) -> list[dict[str, str]]:
    """One row per entry, like the seed's overview table: ref, measure, proposal, replacement."""
    rows = []
    for e in diff.entries:
        rows.append(
            {
                "old_id": e.old_id or "",
                "new_id": e.new_id or "",
                "change": e.change.value
                + (" (with changes)" if e.change is Change.retained and e.changes else ""),
                "measure": e.old.name if e.old else "",
                "replacement": e.new.name if e.new and e.change is not Change.retained else "",
                "changes": "; ".join(str(c) for c in e.changes if c.field not in _QUIET),
            }
        )
    return rows


_QUIET = ("description", "source")
"""Fields whose change is counted but not spelled out (long prose)."""


def _fmt(value: float, d: Definition | None) -> str:
    """A figure with its unit, as the scorecard prints it: '23%', '£8,000', '31 weeks'."""
    if d is None or math.isnan(value):
        return ""
    return format_value(value, d.unit.value, d.rounding, d.unit_label)


def _difference(i: Impact) -> str:
    """'+2 pts', '-£350,000', or 'unit changed: currency → percent'."""
    if i.units:
        return f"unit changed: {i.units[0]} → {i.units[1]}"
    d = i.entry.new or i.entry.old
    if d is None or math.isnan(i.change):
        return ""
    sign = "+" if i.change > 0 else "-" if i.change < 0 else ""
    text = format_value(abs(i.change), d.unit.value, d.rounding, d.unit_label)
    return sign + (text.removesuffix("%") + " pts" if d.unit.value == "percent" else text)


def _n(count: int | None, sign: str) -> str:
    return "" if count is None else f"{sign}{count}"


def impact_rows(impacts: Sequence[Impact]) -> list[dict[str, str]]:
    return [
        {
            "old_id": i.entry.old_id or "",
            "new_id": i.entry.new_id or "",
            "old_value": _fmt(i.old_value, i.entry.old),
            "new_value": _fmt(i.new_value, i.entry.new),
            "change": _difference(i),
            "old_rating": i.old_status,
            "new_rating": i.new_status,
            "numerator_in": _n(i.numerator_in, "+"),
            "numerator_out": _n(i.numerator_out, "-"),
            "denominator_in": _n(i.denominator_in, "+"),
            "denominator_out": _n(i.denominator_out, "-"),
        }
        for i in impacts
    ]


def markdown(diff: SetDiff, impacts: Sequence[Impact] | None = None, period: str = "") -> str:
    """A pull-request comment: the overview, then each change in detail, then the impact."""
    lines = [
        f"## Definition changes: {diff.labels[0]} → {diff.labels[1]}",
        "",
        "| ref | change | measure | replacement |",
        "|---|---|---|---|",
    ]
    for r in overview_rows(diff):
        ref = r["old_id"] or r["new_id"]
        if r["old_id"] and r["new_id"] and r["old_id"] != r["new_id"]:
            ref = f"{r['old_id']} → {r['new_id']}"
        lines.append(f"| {ref} | {r['change']} | {r['measure']} | {r['replacement']} |")
    detailed = [e for e in diff.entries if e.changes]
    if detailed:
        lines += ["", "### What changed", ""]
        for e in detailed:
            lines.append(f"- **{e.new_id or e.old_id}** ({e.change.value}):")
            lines += [f"  - {line}" for line in change_lines(e)]
    if impacts:
        lines += [
            "",
            f"### Impact on {period}",
            "",
            "| ref | old | new | change | rating | numerator in/out | denominator in/out |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in impact_rows(impacts):
            ref = r["new_id"] or r["old_id"]
            rating = f"{r['old_rating']} → {r['new_rating']}"
            lines.append(
                f"| {ref} | {r['old_value']} | {r['new_value']} | {r['change']} | {rating} "
                f"| {pair(r['numerator_in'], r['numerator_out'])} "
                f"| {pair(r['denominator_in'], r['denominator_out'])} |"
            )
    return "\n".join(lines) + "\n"


def change_lines(e: Entry) -> list[str]:
    """What changed in one entry, a line per field; long prose fields only named."""
    lines = [str(c) for c in e.changes if c.field not in _QUIET]
    quiet = [c.field for c in e.changes if c.field in _QUIET]
    return lines + ([f"reworded: {', '.join(quiet)}"] if quiet else [])


def pair(came: str, went: str) -> str:
    return f"{came} / {went}" if came else ""


def as_json(diff: SetDiff, impacts: Sequence[Impact] | None = None) -> dict[str, Any]:
    return {
        "old": diff.old.info.name,
        "new": diff.new.info.name,
        "old_path": diff.old.path,
        "new_path": diff.new.path,
        "entries": [
            {
                "old_id": e.old_id,
                "new_id": e.new_id,
                "change": e.change.value,
                "calculation_changes": [vars(c) for c in e.calculation],
                "other_changes": [vars(c) for c in e.other],
            }
            for e in diff.entries
        ],
        "impact": impact_rows(impacts) if impacts else [],
    }
