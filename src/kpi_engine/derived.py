"""Derived fields and derived tables: statutory logic a filter cannot say, under documented names.

Definitions reference these by name, exactly like extract columns, so ``kpi validate`` can check
every reference. The engine computes them (``kpi_engine.derivations``) from the extract tables
listed in ``needs``. Each carries its rule in words, with the statutory source.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpi_engine import contract
from kpi_engine.expressions import ValueType


def _tables(reads: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.split(".")[0] for r in reads))


def _columns(table: str, *names: str) -> tuple[str, ...]:
    """``table.name`` for each name: how ``reads`` names extract columns."""
    return tuple(f"{table}.{n}" for n in names)


_SPELLS = {
    t: _columns(t, "child_id", "start_date", "end_date")
    for t in ("cp_plans", "cla_episodes", "cin_plans")
}
"""What the per-child spells of plans and episodes read."""
_CIN_REFERRALS = _columns("referrals", "child_id", "outcome", "referral_date", "closure_date")
"""What the open child in need cases read."""
_ASSESSMENTS = (
    *_columns("referrals", "referral_id"),
    *_columns("assessments", "assessment_id", "referral_id", "completed_date"),
)
"""What 'assessed as in need' adds: each referral's completed assessments."""
_CONTACTS = _columns(
    "care_leaver_contacts",
    "child_id",
    "contact_date",
    "contact_id",
    "in_touch",
    "activity",
    "accommodation_suitable",
)
"""What a care leaver's status at a birthday reads."""


@dataclass(frozen=True)
class DerivedField:
    """A column the engine adds to an extract table."""

    table: str
    name: str
    type: ValueType
    doc: str
    reads: tuple[str, ...]
    """Every extract column the computation reads, as ``table.column``: a run loads only the
    columns its definitions read (tests check each field computes from these alone)."""

    @property
    def needs(self) -> tuple[str, ...]:
        """Further extract tables the computation reads (besides ``table``)."""
        return tuple(t for t in _tables(self.reads) if t != self.table)


@dataclass(frozen=True)
class DerivedTable:
    """A table the engine builds from extract tables, for logic that spans rows or tables."""

    name: str
    columns: dict[str, ValueType]
    doc: str
    reads: tuple[str, ...]
    """Every extract column it is built from, as ``table.column``."""

    @property
    def needs(self) -> tuple[str, ...]:
        """Extract tables it is built from; all must be present."""
        return _tables(self.reads)


_EPISODE_HISTORY = _columns(
    "cla_episodes",
    "child_id",
    "start_date",
    "end_date",
    "episode_id",
    "reason_new_episode",
    "placement_type",
    "placement_provider",
    "legal_status",
)
"""What the placement history behind the NI 62 / NI 63 fields reads (one pass serves all)."""

DERIVED_FIELDS: tuple[DerivedField, ...] = (
    DerivedField(
        "referrals",
        "previous_referral_date",
        "date",
        "Date of the same child's most recent earlier referral (null if none). A re-referral is a "
        "referral within 12 months of this date (DfE CIN census).",
        reads=_columns("referrals", "child_id", "referral_date", "referral_id"),
    ),
    DerivedField(
        "cp_plans",
        "previous_plan_end_date",
        "date",
        "End date of the same child's most recent earlier child protection plan (null if none). "
        "A second or subsequent plan is one with a previous plan at any time (DfE), or whose "
        "previous plan ended within a lookback the definition states.",
        reads=_columns("cp_plans", "child_id", "start_date", "cp_plan_id", "end_date"),
    ),
    DerivedField(
        "cp_plans",
        "previous_plan_start_date",
        "date",
        "Start date of the same child's most recent earlier child protection plan (null if none).",
        reads=_columns("cp_plans", "child_id", "start_date", "cp_plan_id"),
    ),
    DerivedField(
        "cp_visits",
        "previous_visit_date",
        "date",
        "The child's previous CP visit within the same plan, or the plan's start date when this "
        "is the plan's first visit (null when the visit falls outside any plan).",
        reads=(*_columns("cp_visits", "child_id", "visit_date", "visit_id"), *_SPELLS["cp_plans"]),
    ),
    DerivedField(
        "cla_episodes",
        "date_of_birth",
        "date",
        "The child's date of birth, from the children table.",
        reads=(
            *_columns("cla_episodes", "child_id"),
            *_columns("children", "child_id", "date_of_birth"),
        ),
    ),
    DerivedField(
        "cla_episodes",
        "new_placement",
        "bool",
        "Whether the episode starts a new placement for NI 62: reason S, P or B; not L, T or U "
        "(legal status change, same carer); not a temporary absence (T0-T4) nor the return from "
        "one to the previous placement; not placement for adoption with the current foster "
        "carer (A3/A5); not a placement shorter than 24 hours.",
        reads=_EPISODE_HISTORY,
    ),
    DerivedField(
        "cla_episodes",
        "placement_start_date",
        "date",
        "Start date of the placement the episode belongs to (episodes joined while no new "
        "placement starts; a temporary absence belongs to the placement it interrupts).",
        reads=_EPISODE_HISTORY,
    ),
    DerivedField(
        "cla_episodes",
        "placement_before_previous_end_date",
        "date",
        "End date of the placement two before the current one (null if the child has had fewer "
        "than three). NI 62: a child has had 3+ placements in the 12 months to period end when "
        "period_end < add_months(this, 12).",
        reads=_EPISODE_HISTORY,
    ),
    DerivedField(
        "cla_episodes",
        "period_of_care_start_date",
        "date",
        "Start of the period of care (a run of contiguous episodes) the episode belongs to.",
        reads=_EPISODE_HISTORY,
    ),
    DerivedField(
        "cla_episodes",
        "care_spell_start_date",
        "date",
        "Start of the continuous spell of care not under short breaks (V3/V4): a short-break "
        "episode breaks the spell, so 'looked after continuously for 2.5 years without short "
        "breaks' (NI 63) is period_end >= add_months(this, 30).",
        reads=_EPISODE_HISTORY,
    ),
    DerivedField(
        "cla_episodes",
        "stability_start_date",
        "date",
        "Start of the current placement, or for a child placed for adoption (A3-A6), of the "
        "placement before it, so that adoptive and previous placement together count (NI 63).",
        reads=_EPISODE_HISTORY,
    ),
    DerivedField(
        "cla_episodes",
        "care_ladder_category",
        "string",
        "Care ladder placement category: out_of_authority_residential (K2/R1 not own "
        "provision), internal_residential (K2/R1 own provision PR1), independent_fostering "
        "(U1-U6 private or voluntary PR4/PR5), trust_foster_carers (U1-U6 own provision PR1), "
        "other.",
        reads=_columns("cla_episodes", "placement_type", "placement_provider"),
    ),
    DerivedField(
        "supervisions",
        "staff_frontline",
        "bool",
        "Whether the supervised worker is frontline (from the staff table).",
        reads=(*_columns("supervisions", "staff_id"), *_columns("staff", "staff_id", "frontline")),
    ),
    DerivedField(
        "supervisions",
        "staff_caseholding",
        "bool",
        "Whether the supervised worker holds cases (from the staff table).",
        reads=(
            *_columns("supervisions", "staff_id"),
            *_columns("staff", "staff_id", "caseholding"),
        ),
    ),
    DerivedField(
        "supervisions",
        "staff_end_date",
        "date",
        "The supervised worker's end date, null while in post (from the staff table).",
        reads=(*_columns("supervisions", "staff_id"), *_columns("staff", "staff_id", "end_date")),
    ),
    DerivedField(
        "supervisions",
        "next_supervision_date",
        "date",
        "The worker's next recorded supervision after this one (null if none yet).",
        reads=_columns("supervisions", "staff_id", "supervision_date", "supervision_id"),
    ),
    DerivedField(
        "allocations",
        "staff_qualified_social_worker",
        "bool",
        "Whether the allocated worker is a qualified social worker (from the staff table).",
        reads=(
            *_columns("allocations", "staff_id"),
            *_columns("staff", "staff_id", "qualified_social_worker"),
        ),
    ),
    DerivedField(
        "allocations",
        "staff_caseholding",
        "bool",
        "Whether the allocated worker holds cases (from the staff table).",
        reads=(*_columns("allocations", "staff_id"), *_columns("staff", "staff_id", "caseholding")),
    ),
    DerivedField(
        "yos_disposals",
        "date_of_birth",
        "date",
        "The young person's date of birth, from the youth offending cohort.",
        reads=(
            *_columns("yos_disposals", "young_person_id"),
            *_columns("yos_cohort", "young_person_id", "date_of_birth"),
        ),
    ),
)

DERIVED_TABLES: dict[str, DerivedTable] = {
    t.name: t
    for t in (
        DerivedTable(
            "care_leaver_birthdays",
            {
                "child_id": "string",
                "age": "number",
                "birthday": "date",
                "qualifying": "bool",
                "contact_date": "date",
                "in_touch": "bool",
                "activity": "string",
                "eet": "bool",
                "accommodation_suitable": "bool",
            },
            "One row per care leaver per 19th, 20th and 21st birthday, with their status on the "
            "keeping-in-touch contact nearest the birthday, from 3 months before to 1 month "
            "after (DfE SSDA903 care leaver rules). No contact in that window: in_touch false, "
            "eet and accommodation_suitable false; those not in touch stay in the denominator.",
            reads=(
                *_columns("care_leavers", "child_id", "date_of_birth", "qualifying"),
                *_CONTACTS,
            ),
        ),
        DerivedTable(
            "care_leaver_19th_birthdays",
            {
                "child_id": "string",
                "birthday": "date",
                "contact_date": "date",
                "in_touch": "bool",
                "activity": "string",
                "eet": "bool",
                "accommodation_suitable": "bool",
            },
            "The year-1 care leaver cohort at 19 (seed 001 lines 2084 and 2107): one row per "
            "care leaver who was looked after under any legal status other than V3/V4 on 1 April "
            "in their 17th year (the 1 April on which they were 16), at their 19th birthday, "
            "with their status on the contact nearest it as in care_leaver_birthdays. The "
            "extract's qualifying flag plays no part.",
            reads=(
                *_columns("care_leavers", "child_id", "date_of_birth"),
                *_CONTACTS,
                *_columns("cla_episodes", "child_id", "start_date", "end_date", "legal_status"),
            ),
        ),
        DerivedTable(
            "cp_cla_spells",
            {"child_id": "string", "start_date": "date", "end_date": "date"},
            "Spells in which a child is subject to a child protection plan or looked after "
            "(overlapping plans and episodes merged per child).",
            reads=(*_SPELLS["cp_plans"], *_SPELLS["cla_episodes"]),
        ),
        DerivedTable(
            "cp_cla_qsw_spells",
            {"child_id": "string", "start_date": "date", "end_date": "date"},
            "The parts of cp_cla_spells during which the child's case is allocated to a "
            "qualified social worker.",
            reads=(
                *_SPELLS["cp_plans"],
                *_SPELLS["cla_episodes"],
                *_columns("allocations", "child_id", "staff_id", "start_date", "end_date"),
                *_columns("staff", "staff_id", "qualified_social_worker"),
            ),
        ),
        DerivedTable(
            "cp_unvisited_spells",
            {"child_id": "string", "start_date": "date", "end_date": "date"},
            "Spells in which a child has been on a CP plan for more than 28 days and has had no "
            "CP visit in the last 14 days (the service's 2-weekly expectation, year-1 A4). Any "
            "visit counts, whether or not the child was seen: seeing the child is what the "
            "year-2 revision adds (seed 001 lines 1981-1985).",
            reads=(*_SPELLS["cp_plans"], *_columns("cp_visits", "child_id", "visit_date")),
        ),
        DerivedTable(
            "cp_visited_spells",
            {"child_id": "string", "start_date": "date", "end_date": "date"},
            "Spells in which a child has been on a CP plan for more than 28 days and has had a "
            "CP visit (seen or not) in the last 14 days: the days cp_unvisited_spells leaves "
            "out, so 'visits within timescale' is the complement of year-1 A4.",
            reads=(*_SPELLS["cp_plans"], *_columns("cp_visits", "child_id", "visit_date")),
        ),
        DerivedTable(
            "cin_cases",
            {"child_id": "string", "start_date": "date", "end_date": "date"},
            "Open child in need cases: referrals that went to assessment, from referral to "
            "closure, merged per child.",
            reads=_CIN_REFERRALS,
        ),
        DerivedTable(
            "assessed_cin_cases",
            {"child_id": "string", "start_date": "date", "end_date": "date"},
            "Open child in need cases of children assessed as in need: referrals that went to "
            "assessment, from the completion of the referral's first assessment (linked by "
            "referral_id) to closure, merged per child. A case still being assessed is not "
            "counted, nor one closed the day its assessment completed.",
            reads=(*_CIN_REFERRALS, *_ASSESSMENTS),
        ),
        DerivedTable(
            "assessed_cin_cases_with_plan",
            {"child_id": "string", "start_date": "date", "end_date": "date"},
            "The parts of assessed_cin_cases during which the child has an open child in need "
            "plan, child protection plan or looked-after episode.",
            reads=(
                *_CIN_REFERRALS,
                *_ASSESSMENTS,
                *_SPELLS["cin_plans"],
                *_SPELLS["cp_plans"],
                *_SPELLS["cla_episodes"],
            ),
        ),
        DerivedTable(
            "care_ladder",
            {"child_id": "string", "category": "string", "start_date": "date", "end_date": "date"},
            "Children by care ladder category: looked-after placements by care_ladder_category, "
            "and special guardianship (left care under an SGO, reason E45-E48, until age 18).",
            reads=(
                *_columns(
                    "cla_episodes",
                    "child_id",
                    "placement_type",
                    "placement_provider",
                    "start_date",
                    "end_date",
                    "reason_ceased",
                ),
                *_columns("children", "child_id", "date_of_birth"),
            ),
        ),
    )
}


def derived_fields_for(table: str) -> dict[str, DerivedField]:
    """The derived fields the engine adds to ``table``, by name."""
    return {f.name: f for f in DERIVED_FIELDS if f.table == table}


def columns_of(table: str) -> dict[str, ValueType] | None:
    """Every name a filter on ``table`` may use, with its type; None for an unknown table.

    ``table`` is an extract table (its columns plus derived fields) or a derived table.
    """
    if table in DERIVED_TABLES:
        return dict(DERIVED_TABLES[table].columns)
    if table not in contract.TABLES:
        return None
    cols: dict[str, ValueType] = {}
    for c in contract.TABLES[table].columns:
        cols[c.name] = _VALUE_TYPES[c.type]
    for f in derived_fields_for(table).values():
        cols[f.name] = f.type
    return cols


def table_names() -> list[str]:
    """Every table a definition may read: extract tables then derived tables."""
    return [*contract.TABLES, *DERIVED_TABLES]


def tables_needed(table: str) -> tuple[str, ...]:
    """The extract tables that must be present to compute over ``table``."""
    if table in DERIVED_TABLES:
        return DERIVED_TABLES[table].needs
    extra = {t for f in derived_fields_for(table).values() for t in f.needs}
    return (table, *sorted(extra - {table}))


def columns_read(table: str, names: set[str]) -> dict[str, set[str]]:
    """The extract columns, by table, behind the ``names`` a definition reads on ``table``.

    ``names`` are columns and derived fields of an extract table; a derived table reads what
    it is built from, whatever names are asked of it. Unknown names are left out (the
    definition validator reports them).
    """
    if table in DERIVED_TABLES:
        reads: tuple[str, ...] = DERIVED_TABLES[table].reads
    elif table in contract.TABLES:
        own = set(contract.TABLES[table].column_names)
        fields = derived_fields_for(table)
        reads = _columns(table, *sorted(names & own))
        reads += tuple(r for n in sorted(names) if n in fields for r in fields[n].reads)
    else:
        return {}
    out: dict[str, set[str]] = {}
    for qualified in reads:
        t, column = qualified.split(".")
        out.setdefault(t, set()).add(column)
    return out


_VALUE_TYPES: dict[str, ValueType] = {
    "string": "string",
    "date": "date",
    "datetime": "datetime",
    "bool": "bool",
    "int": "number",
    "number": "number",
    "month": "date",
}
