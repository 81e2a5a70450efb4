"""The extract contract (v1): every table a case-level extract may hold, its columns and codes.

This is the single source of truth for table and column names. The loader coerces and checks
extracts against it, the definition validator checks filter references against it, and the
sample-data generator writes exactly these columns. See ``docs/extract-contract.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "date", "datetime", "bool", "int", "number", "month"]
"""Logical column types. ``month`` is a ``YYYY-MM`` period, read as the first day of the month."""

CONTRACT_VERSION = "1"


@dataclass(frozen=True)
class Column:
    """One column of an extract table."""

    name: str
    """Canonical snake_case name, exactly as in the extract contract."""
    type: ColumnType
    """Logical type the loader coerces to."""
    nullable: bool = False
    """Whether an empty cell is allowed (an open record, or an optional attribute)."""
    key: bool = False
    """Whether the column identifies the row and must be unique in its table."""
    codes: tuple[str, ...] | None = None
    """The allowed values, where the column is coded (compared case-sensitively)."""
    references: str | None = None
    """The table whose key this column refers to (``child_id`` → ``children``)."""
    minimum: float | None = None
    """The smallest value a number may take, where the contract states one."""
    maximum: float | None = None
    """The largest value a number may take, where the contract states one."""


@dataclass(frozen=True)
class Table:
    """One extract table."""

    name: str
    columns: tuple[Column, ...]
    description: str
    start_end: tuple[str, str] | None = None
    """Start and end column pair that must satisfy end ≥ start, if the table has one."""
    notes: str = ""
    extra_checks: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str | None:
        """The key column, or None for tables without a single-column key."""
        return next((c.name for c in self.columns if c.key), None)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def open_end(self) -> str | None:
        """The column that ends each record's interval, where an open-ended sentinel date
        (9999-12-31) means "still open" (docs/extract-validation.md)."""
        return self.start_end[1] if self.start_end is not None else None


# National code lists (SSDA903 / CIN census) the contract refers to.
SEX_CODES = ("M", "F", "U")
REFERRAL_OUTCOMES = ("assessment", "nfa", "early_help")
REASON_NEW_EPISODE = ("S", "L", "P", "T", "U", "B")
LEGAL_STATUS = ("C1", "C2", "D1", "E1", "J1", "J2", "J3", "L1", "L2", "L3", "V2", "V3", "V4")
SHORT_BREAK_LEGAL_STATUS = ("V3", "V4")
PLACEMENT_TYPES = (
    "A3", "A4", "A5", "A6",  # placed for adoption (A3/A5: with the current foster carer)
    "H5",  # semi-independent living
    "K1", "K2",  # secure children's home; children's home
    "P1", "P2", "P3",  # with parents; independent living; residential employment
    "R1", "R2", "R3", "R5",  # residential care home; NHS; family centre; young offender institution
    "S1",  # residential school
    "T0", "T1", "T2", "T3", "T4",  # temporary placements (absences, not placements for NI 62)
    "U1", "U2", "U3", "U4", "U5", "U6",  # foster placements (U1-U3 with relatives or friends)
    "Z1",  # other
)  # fmt: skip
TEMPORARY_PLACEMENT_TYPES = ("T0", "T1", "T2", "T3", "T4")
ADOPTION_WITH_CURRENT_CARER = ("A3", "A5")
PLACEMENT_PROVIDERS = ("PR0", "PR1", "PR2", "PR3", "PR4", "PR5")
REASON_CEASED = (
    "E11", "E12", "E13", "E14", "E15", "E16", "E17", "E2", "E3", "E41", "E45", "E46", "E47",
    "E48", "E4A", "E4B", "E5", "E6", "E7", "E8", "E9", "X1",
)  # fmt: skip
SGO_REASON_CEASED = ("E45", "E46", "E47", "E48")
CP_CATEGORIES = ("neglect", "physical", "emotional", "sexual", "multiple")
ACTIVITY_CODES = (
    "eet", "neet", "unknown",
    # OC3 activity codes from the SSDA903 care leaver return
    "F1", "P1", "F2", "P2", "F4", "P4", "F5", "P5", "G4", "G5", "G6", "0",
)  # fmt: skip
EET_ACTIVITY = ("eet", "F1", "P1", "F2", "P2", "F4", "P4", "F5", "P5")
AUDIT_GRADES = ("outstanding", "good", "requires_improvement", "inadequate")
AUDIT_TYPES = ("routine", "thematic")
EMPLOYMENT_TYPES = ("permanent", "agency")
FINANCE_LINES = ("income", "expenditure")
DISPOSAL_TYPES = ("custody", "community", "out_of_court")


SHARED_KEYS = ("child_id", "staff_id", "young_person_id")
"""The ids of people, which recur across tables. The loader codes each once for the whole
extract (``kpi_engine.keys``); every column so named refers, directly or through another
table, to the one table keyed by it (children, staff, yos_cohort)."""

LINKED_IDS = ("referral_id",)
"""Record ids another table refers to (an assessment names its referral). The loader codes
them as it codes people's ids when more than one of the tables it loads holds them, so the
link is followed by code; a prepared extract keeps the codes (``kpi_engine.prepared``)."""

CODED_IDS = SHARED_KEYS + LINKED_IDS
"""Every id the loader leaves to ``kpi_engine.keys.share``: it codes and trims them."""


def _c(name: str, type_: ColumnType, **kw: object) -> Column:
    return Column(name, type_, **kw)  # type: ignore[arg-type]


def _child_id() -> Column:
    return _c("child_id", "string", references="children")


def _staff_id() -> Column:
    return _c("staff_id", "string", references="staff")


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "children",
            (
                _c("child_id", "string", key=True),
                _c("date_of_birth", "date"),
                _c("sex", "string", codes=SEX_CODES),
                _c("ethnicity", "string", nullable=True),
                _c("disabled", "bool", nullable=True),
            ),
            "One row per child.",
        ),
        Table(
            "population",
            (
                _c("year", "int", minimum=1900, maximum=2199),  # the supported periods
                _c("age", "int", minimum=0, maximum=17),
                _c("count", "number", minimum=0),
            ),
            "Mid-year population estimates for the area, by single year of age 0-17.",
        ),
        Table(
            "referrals",
            (
                _c("referral_id", "string", key=True),
                _child_id(),
                _c("referral_date", "date"),
                _c("source", "string", nullable=True),
                _c("outcome", "string", nullable=True, codes=REFERRAL_OUTCOMES),
                _c("closure_date", "date", nullable=True),
            ),
            "A referral opens a child in need episode, closed at closure_date.",
            start_end=("referral_date", "closure_date"),
        ),
        Table(
            "assessments",
            (
                _c("assessment_id", "string", key=True),
                _child_id(),
                _c("referral_id", "string", nullable=True, references="referrals"),
                _c("start_date", "date"),
                _c("completed_date", "date", nullable=True),
            ),
            "Single (continuous) assessments.",
            start_end=("start_date", "completed_date"),
        ),
        Table(
            "cin_plans",
            (
                _c("cin_plan_id", "string", key=True),
                _child_id(),
                _c("start_date", "date"),
                _c("end_date", "date", nullable=True),
            ),
            "Child in need plans.",
            start_end=("start_date", "end_date"),
        ),
        Table(
            "cp_plans",
            (
                _c("cp_plan_id", "string", key=True),
                _child_id(),
                _c("start_date", "date"),
                _c("end_date", "date", nullable=True),
                _c("category", "string", nullable=True, codes=CP_CATEGORIES),
            ),
            "Child protection plans.",
            start_end=("start_date", "end_date"),
        ),
        Table(
            "cp_visits",
            (
                _c("visit_id", "string", key=True),
                _child_id(),
                _c("visit_date", "date"),
                _c("child_seen", "bool"),
                _c("seen_alone", "bool", nullable=True),
            ),
            "Statutory child protection visits.",
        ),
        Table(
            "cla_episodes",
            (
                _c("episode_id", "string", key=True),
                _child_id(),
                _c("start_date", "date"),
                _c("end_date", "date", nullable=True),
                _c("reason_new_episode", "string", codes=REASON_NEW_EPISODE),
                _c("legal_status", "string", codes=LEGAL_STATUS),
                _c("placement_type", "string", codes=PLACEMENT_TYPES),
                _c("placement_provider", "string", nullable=True, codes=PLACEMENT_PROVIDERS),
                _c("reason_ceased", "string", nullable=True, codes=REASON_CEASED),
            ),
            "SSDA903 episodes; a period of care is a run of contiguous episodes.",
            start_end=("start_date", "end_date"),
        ),
        Table(
            "cla_reviews",
            (
                _c("review_id", "string", key=True),
                _child_id(),
                _c("review_date", "date"),
                _c("due_date", "date"),
                _c("child_participated", "bool", nullable=True),
            ),
            "Looked-after reviews.",
        ),
        Table(
            "cla_visits",
            (
                _c("visit_id", "string", key=True),
                _child_id(),
                _c("visit_date", "date"),
                _c("due_date", "date"),
            ),
            "Statutory looked-after visits.",
        ),
        Table(
            "missing_episodes",
            (
                _c("missing_id", "string", key=True),
                _child_id(),
                _c("start_datetime", "datetime"),
                _c("end_datetime", "datetime", nullable=True),
                _c("looked_after", "bool"),
            ),
            "Episodes of a child missing from home or care.",
            start_end=("start_datetime", "end_datetime"),
        ),
        Table(
            "care_proceedings",
            (
                _c("proceedings_id", "string", key=True),
                _child_id(),
                _c("issue_date", "date"),
                _c("final_order_date", "date", nullable=True),
            ),
            "Public law (care) proceedings.",
            start_end=("issue_date", "final_order_date"),
        ),
        Table(
            "adoptions",
            (
                _c("child_id", "string", key=True, references="children"),
                _c("entered_care_date", "date"),
                _c("placement_order_date", "date", nullable=True),
                _c("matched_date", "date", nullable=True),
                _c("placed_date", "date", nullable=True),
                _c("adoption_order_date", "date", nullable=True),
            ),
            "Adoption journey milestones.",
            start_end=("entered_care_date", "placed_date"),
        ),
        Table(
            "care_leavers",
            (
                _c("child_id", "string", key=True, references="children"),
                _c("date_of_birth", "date"),
                _c("qualifying", "bool"),
            ),
            "Care leavers; qualifying = eligible or former relevant.",
        ),
        Table(
            "care_leaver_contacts",
            (
                _c("contact_id", "string", key=True),
                _c("child_id", "string", references="care_leavers"),
                _c("contact_date", "date"),
                _c("in_touch", "bool"),
                _c("activity", "string", nullable=True, codes=ACTIVITY_CODES),
                _c("accommodation_suitable", "bool", nullable=True),
            ),
            "Keeping-in-touch records with care leavers.",
        ),
        Table(
            "case_audits",
            (
                _c("audit_id", "string", key=True),
                _child_id(),
                _c("audit_date", "date"),
                _c("grade", "string", codes=AUDIT_GRADES),
                _c("audit_type", "string", codes=AUDIT_TYPES),
            ),
            "Case file quality audits.",
        ),
        Table(
            "staff",
            (
                _c("staff_id", "string", key=True),
                _c("job_title", "string"),
                _c("team", "string", nullable=True),
                _c("frontline", "bool"),
                _c("caseholding", "bool"),
                _c("qualified_social_worker", "bool"),
                _c("employment_type", "string", codes=EMPLOYMENT_TYPES),
                _c("fte", "number", minimum=0),
                _c("start_date", "date"),
                _c("end_date", "date", nullable=True),
                _c("leaving_reason", "string", nullable=True),
            ),
            "One row per worker per contract.",
            start_end=("start_date", "end_date"),
        ),
        Table(
            "supervisions",
            (
                _c("supervision_id", "string", key=True),
                _staff_id(),
                _c("supervision_date", "date"),
            ),
            "Recorded supervisions.",
        ),
        Table(
            "allocations",
            (
                _c("allocation_id", "string", key=True),
                _child_id(),
                _staff_id(),
                _c("start_date", "date"),
                _c("end_date", "date", nullable=True),
            ),
            "Allocation of a child's case to a worker.",
            start_end=("start_date", "end_date"),
        ),
        Table(
            "sickness_absence",
            (
                _c("absence_id", "string", key=True),
                _staff_id(),
                _c("start_date", "date"),
                _c("end_date", "date", nullable=True),
                _c("days_lost", "number", minimum=0),
            ),
            "Working days lost to sickness.",
            start_end=("start_date", "end_date"),
        ),
        Table(
            "finance",
            (
                _c("month", "month"),
                _c("funding_stream", "string"),
                _c("line", "string", codes=FINANCE_LINES),
                _c("budget", "number"),
                _c("forecast_outturn", "number"),
                _c("actual_to_date", "number"),
            ),
            "Monthly management accounts; budget and forecast are full-year figures.",
        ),
        Table(
            "yos_cohort",
            (
                _c("young_person_id", "string", key=True),
                _c("date_of_birth", "date"),
                _c("cohort_start", "date"),
                _c("eet", "bool", nullable=True),
                _c("reoffended_12m", "bool", nullable=True),
            ),
            "Youth offending service tracked cohort.",
        ),
        Table(
            "yos_disposals",
            (
                _c("disposal_id", "string", key=True),
                _c("young_person_id", "string", references="yos_cohort"),
                _c("disposal_date", "date"),
                _c("disposal_type", "string", codes=DISPOSAL_TYPES),
            ),
            "Youth justice disposals.",
        ),
    )
}


def table(name: str) -> Table:
    """The contract table called ``name`` (KeyError if there is none)."""
    return TABLES[name]
