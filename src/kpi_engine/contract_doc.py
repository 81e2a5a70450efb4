"""The extract contract's tables as Markdown, written from ``kpi_engine.contract``.

docs/extract-contract.md holds the prose (conventions, rules, the manifest) and, between two
marker lines, one section per table generated here: its columns with type, required or
optional, key, reference and codes, and an example row. A test checks the committed document
against this generator and loads every example row through the real loader, so the document,
the code and the examples cannot drift apart.

    python -m kpi_engine.contract_doc            # print the generated part
    python -m kpi_engine.contract_doc --write docs/extract-contract.md
"""

from __future__ import annotations

import sys
from pathlib import Path

from kpi_engine import contract

BEGIN = "<!-- generated from src/kpi_engine/contract.py by `python -m kpi_engine.contract_doc --write docs/extract-contract.md`: do not edit by hand -->"  # noqa: E501
END = "<!-- end of the generated tables -->"

TYPES = {
    "string": "text",
    "date": "date",
    "datetime": "date-time",
    "bool": "boolean",
    "int": "whole number",
    "number": "number",
    "month": "month",
}
"""Each logical type as the document names it (the conventions section says how each is read)."""

EXAMPLES: dict[str, dict[str, str]] = {
    "children": {
        "child_id": "C0010366",
        "date_of_birth": "2009-10-09",
        "sex": "F",
        "ethnicity": "WBRI",
        "disabled": "false",
    },
    "population": {"year": "2015", "age": "7", "count": "3650"},
    "referrals": {
        "referral_id": "R0017105",
        "child_id": "C0010366",
        "referral_date": "2015-11-02",
        "source": "1A",
        "outcome": "assessment",
        "closure_date": "",
    },
    "assessments": {
        "assessment_id": "A0013964",
        "child_id": "C0010366",
        "referral_id": "R0017105",
        "start_date": "2015-11-03",
        "completed_date": "2015-12-18",
    },
    "cin_plans": {
        "cin_plan_id": "N0005741",
        "child_id": "C0010366",
        "start_date": "2015-12-21",
        "end_date": "",
    },
    "cp_plans": {
        "cp_plan_id": "P0001917",
        "child_id": "C0005734",
        "start_date": "2015-06-27",
        "end_date": "2015-11-22",
        "category": "neglect",
    },
    "cp_visits": {
        "visit_id": "V0046312",
        "child_id": "C0005734",
        "visit_date": "2015-07-08",
        "child_seen": "true",
        "seen_alone": "false",
    },
    "cla_episodes": {
        "episode_id": "E0003897",
        "child_id": "C0004070",
        "start_date": "2015-03-28",
        "end_date": "",
        "reason_new_episode": "S",
        "legal_status": "C2",
        "placement_type": "U4",
        "placement_provider": "PR1",
        "reason_ceased": "",
    },
    "cla_reviews": {
        "review_id": "RV0004523",
        "child_id": "C0004070",
        "review_date": "2015-04-24",
        "due_date": "2015-04-27",
        "child_participated": "true",
    },
    "cla_visits": {
        "visit_id": "LV0017691",
        "child_id": "C0004070",
        "visit_date": "2015-04-02",
        "due_date": "2015-04-04",
    },
    "missing_episodes": {
        "missing_id": "M0003674",
        "child_id": "C0004070",
        "start_datetime": "2015-09-18T22:39",
        "end_datetime": "2015-09-19T09:32",
        "looked_after": "true",
    },
    "care_proceedings": {
        "proceedings_id": "CP0000480",
        "child_id": "C0004070",
        "issue_date": "2015-04-08",
        "final_order_date": "2015-11-18",
    },
    "adoptions": {
        "child_id": "C0007049",
        "entered_care_date": "2013-01-29",
        "placement_order_date": "2013-12-03",
        "matched_date": "2014-05-23",
        "placed_date": "2014-06-26",
        "adoption_order_date": "2015-03-30",
    },
    "care_leavers": {"child_id": "C0001981", "date_of_birth": "1995-01-08", "qualifying": "true"},
    "care_leaver_contacts": {
        "contact_id": "K0001166",
        "child_id": "C0001981",
        "contact_date": "2015-08-10",
        "in_touch": "true",
        "activity": "P2",
        "accommodation_suitable": "true",
    },
    "case_audits": {
        "audit_id": "Q0001234",
        "child_id": "C0010366",
        "audit_date": "2016-01-14",
        "grade": "good",
        "audit_type": "routine",
    },
    "staff": {
        "staff_id": "S0000815",
        "job_title": "Senior Social Worker",
        "team": "Leaving Care",
        "frontline": "true",
        "caseholding": "true",
        "qualified_social_worker": "true",
        "employment_type": "agency",
        "fte": "1.0",
        "start_date": "2015-01-05",
        "end_date": "2015-07-31",
        "leaving_reason": "end of assignment",
    },
    "supervisions": {
        "supervision_id": "SV0009169",
        "staff_id": "S0000815",
        "supervision_date": "2015-02-09",
    },
    "allocations": {
        "allocation_id": "AL0017654",
        "child_id": "C0010366",
        "staff_id": "S0000815",
        "start_date": "2015-03-02",
        "end_date": "2015-05-06",
    },
    "sickness_absence": {
        "absence_id": "AB0000914",
        "staff_id": "S0000815",
        "start_date": "2015-03-30",
        "end_date": "2015-04-02",
        "days_lost": "4",
    },
    "finance": {
        "month": "2016-01",
        "funding_stream": "capital",
        "line": "expenditure",
        "budget": "650000",
        "forecast_outturn": "642000",
        "actual_to_date": "512400",
    },
    "yos_cohort": {
        "young_person_id": "Y0000754",
        "date_of_birth": "1999-03-06",
        "cohort_start": "2014-09-17",
        "eet": "true",
        "reoffended_12m": "false",
    },
    "yos_disposals": {
        "disposal_id": "YD0001123",
        "young_person_id": "Y0000754",
        "disposal_date": "2015-06-17",
        "disposal_type": "community",
    },
}
"""One realistic row per table, as CSV cells (empty: null); the test loads each one."""


def _codes(column: contract.Column) -> str:
    if column.codes is None:
        return ""
    return " ".join(f"`{c}`" for c in column.codes)


def _notes(column: contract.Column, table: contract.Table) -> str:
    notes = []
    if column.key:
        notes.append("key: unique in the table")
    if column.references:
        target = contract.TABLES[column.references]
        notes.append(f"refers to `{column.references}.{target.key}`")
    if table.start_end and column.name == table.start_end[1]:
        notes.append(f"on or after `{table.start_end[0]}`")
    return "; ".join(notes)


def table_section(table: contract.Table) -> str:
    """One table: what a row is, its columns, an example row (CSV)."""
    lines = [f"### `{table.name}`", "", table.description]
    if table.notes:
        lines += ["", table.notes]
    lines += [
        "",
        "| column | type | required | rules | codes |",
        "|---|---|---|---|---|",
    ]
    for c in table.columns:
        required = "optional" if c.nullable else "required"
        lines.append(
            f"| `{c.name}` | {TYPES[c.type]} | {required} | {_notes(c, table)} | {_codes(c)} |"
        )
    example = EXAMPLES[table.name]
    lines += [
        "",
        "```csv",
        ",".join(c.name for c in table.columns),
        ",".join(_csv_cell(example[c.name]) for c in table.columns),
        "```",
    ]
    return "\n".join(lines)


def _csv_cell(value: str) -> str:
    return f'"{value}"' if "," in value or '"' in value else value


def markdown() -> str:
    """The generated part of docs/extract-contract.md, markers included."""
    sections = [table_section(t) for t in contract.TABLES.values()]
    return "\n\n".join([BEGIN, *sections, END]) + "\n"


def updated(document: str) -> str:
    """``document`` with the text between the markers replaced by :func:`markdown`."""
    start, end = document.index(BEGIN), document.index(END) + len(END) + 1
    return document[:start] + markdown() + document[end:]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write"] and len(argv) == 2:
        path = Path(argv[1])
        path.write_text(updated(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    if argv:
        print("usage: python -m kpi_engine.contract_doc [--write FILE]", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
