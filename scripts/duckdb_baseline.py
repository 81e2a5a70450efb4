"""The analyst's alternative to ``kpi``: five indicators as DuckDB SQL over the Parquet files.

``make bench`` measures ``kpi`` against this peer in the same run (issue 15). The SQL is written
as a performance analyst would write it: one query per indicator, all months at once, window
functions for "the child's previous referral / plan", no attempt to mirror the engine's code.
Its figures are cross-checked against ``kpi``'s; where the two differ, the difference is a
definitional rule the engine applies and plain SQL does not (see ``KNOWN_DIFFERENCES``).

Run on its own: ``python scripts/duckdb_baseline.py EXTRACT_DIR FIRST LAST OUT.csv`` writes
``indicator_id, period, numerator, denominator`` for every month from FIRST to LAST.
"""

from __future__ import annotations

import sys
from pathlib import Path

INDICATORS = ("A1", "A5", "A6", "B10", "C14")

KNOWN_DIFFERENCES = {
    "B10": (
        "NI 62 placement counting: the engine does not count a temporary placement (T0-T4), a "
        "return to the same carer after one, a move to adoption with the current foster carer "
        "(A3/A5), or a placement of under 24 hours; the SQL counts every S/P/B episode as a "
        "new placement, so its numerator is higher"
    ),
}
"""Why a figure may differ, by indicator: each is a rule of the statutory definition."""

# The reporting months: each month's first and last day and its YYYY-MM label.
_MONTHS = """
CREATE TEMP TABLE months AS
SELECT strftime(m, '%Y-%m') AS period,
       m::DATE AS month_start,
       (m + INTERVAL 1 MONTH - INTERVAL 1 DAY)::DATE AS month_end
FROM range(DATE '{first}-01', DATE '{last}-01' + INTERVAL 1 MONTH, INTERVAL 1 MONTH) t(m)
"""

QUERIES = {
    # Re-referrals: referrals in the 12 months to month end, and of those the ones within
    # 12 months of the child's previous referral.
    "A1": """
WITH r AS (
  SELECT referral_date,
         LAG(referral_date) OVER (PARTITION BY child_id ORDER BY referral_date, referral_id)
           AS previous_date
  FROM read_parquet('{dir}/referrals.parquet')
), by_month AS (
  SELECT date_trunc('month', referral_date)::DATE AS month_start,
         count(*) AS referrals,
         count(*) FILTER (WHERE referral_date <= previous_date + INTERVAL 12 MONTH) AS repeats
  FROM r GROUP BY 1
)
SELECT 'A1' AS indicator_id, m.period,
       coalesce(sum(b.repeats), 0) AS numerator, coalesce(sum(b.referrals), 0) AS denominator
FROM months m
LEFT JOIN by_month b
  ON b.month_start > m.month_start - INTERVAL 12 MONTH AND b.month_start <= m.month_start
GROUP BY m.period
""",
    # Second or subsequent CP plan within 2 years: plans starting in the month.
    "A5": """
WITH p AS (
  SELECT start_date,
         LAG(end_date) OVER (PARTITION BY child_id ORDER BY start_date, cp_plan_id)
           AS previous_end
  FROM read_parquet('{dir}/cp_plans.parquet')
)
SELECT 'A5' AS indicator_id, m.period,
       count(p.start_date) FILTER (WHERE p.start_date <= p.previous_end + INTERVAL 2 YEAR)
         AS numerator,
       count(p.start_date) AS denominator
FROM months m
LEFT JOIN p ON p.start_date BETWEEN m.month_start AND m.month_end
GROUP BY m.period
""",
    # CP plans open at month end lasting 2 years or more (730 days counting the first).
    "A6": """
WITH p AS (
  SELECT child_id, start_date, end_date FROM read_parquet('{dir}/cp_plans.parquet')
)
SELECT 'A6' AS indicator_id, m.period,
       count(DISTINCT p.child_id) FILTER (WHERE m.month_end >= p.start_date + INTERVAL 729 DAY)
         AS numerator,
       count(DISTINCT p.child_id) AS denominator
FROM months m
LEFT JOIN p
  ON p.start_date <= m.month_end AND (p.end_date IS NULL OR p.end_date > m.month_end)
GROUP BY m.period
""",
    # NI 62: children looked after at month end (not short breaks) with 3+ placements in the
    # 12 months to month end; a placement is a run of episodes from an S, P or B episode.
    "B10": """
WITH e AS (
  SELECT child_id, start_date, end_date, legal_status,
         sum(CASE WHEN reason_new_episode IN ('S', 'P', 'B') THEN 1 ELSE 0 END)
           OVER (PARTITION BY child_id ORDER BY start_date, episode_id) AS placement_no
  FROM read_parquet('{dir}/cla_episodes.parquet')
), placements AS (
  SELECT child_id, placement_no, min(start_date) AS start_date,
         CASE WHEN bool_or(end_date IS NULL) THEN NULL ELSE max(end_date) END AS end_date
  FROM e GROUP BY child_id, placement_no
), looked_after AS (
  SELECT DISTINCT m.period, m.month_end, e.child_id
  FROM months m JOIN e
    ON e.start_date <= m.month_end AND (e.end_date IS NULL OR e.end_date > m.month_end)
  WHERE e.legal_status NOT IN ('V3', 'V4')
), counted AS (
  SELECT l.period, l.child_id, count(*) AS placements
  FROM looked_after l JOIN placements p
    ON p.child_id = l.child_id AND p.start_date <= l.month_end
   AND (p.end_date IS NULL OR p.end_date > l.month_end - INTERVAL 12 MONTH)
  GROUP BY l.period, l.child_id
)
SELECT 'B10' AS indicator_id, m.period,
       count(c.child_id) FILTER (WHERE c.placements >= 3) AS numerator,
       count(c.child_id) AS denominator
FROM months m LEFT JOIN counted c ON c.period = m.period
GROUP BY m.period
""",
    # Agency share of frontline FTE in post at month end.
    "C14": """
WITH s AS (
  SELECT start_date, end_date, employment_type, fte
  FROM read_parquet('{dir}/staff.parquet') WHERE frontline
)
SELECT 'C14' AS indicator_id, m.period,
       coalesce(sum(s.fte) FILTER (WHERE s.employment_type = 'agency'), 0) AS numerator,
       coalesce(sum(s.fte), 0) AS denominator
FROM months m
LEFT JOIN s ON s.start_date <= m.month_end AND (s.end_date IS NULL OR s.end_date > m.month_end)
GROUP BY m.period
""",
}

TABLES = ("referrals", "cp_plans", "cla_episodes", "staff")
"""The Parquet files the five queries read (the floor: reading just these)."""


def run(extract: Path, first: str, last: str, out: Path) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(_MONTHS.format(first=first, last=last))
    parts = [
        con.execute(QUERIES[i].format(dir=extract.as_posix())).df().assign(indicator_id=i)
        for i in INDICATORS
    ]
    import pandas as pd

    frame = pd.concat(parts, ignore_index=True).sort_values(["indicator_id", "period"])
    frame.to_csv(out, index=False)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: duckdb_baseline.py EXTRACT_DIR FIRST LAST OUT.csv")
    run(Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4]))
