"""Writing an import: the extract folder, its manifest, the rejected rows and the findings.

The folder is built in a hidden temporary sibling and renamed into place, so a reader never sees
it half-written and a failed import leaves what was there before untouched. With ``into``, the
existing extract is read, merged with the returns and replaced whole (the old folder is moved
aside, the new one renamed in, the old one removed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from kpi_engine import contract
from kpi_engine.importers import _stack
from kpi_engine.importers._common import (
    FILE,
    FINDINGS,
    LOCATION,
    MANIFEST,
    REJECTED_ROWS,
    Finding,
    ImportFailure,
    ImportReport,
    Rejection,
    ReturnRead,
    Source,
    TableCount,
)

SOURCE_SYSTEM = "statutory returns (kpi import)"
RATE_TABLE = "population"
PARTIAL_TABLES = "partial_tables"
"""The manifest's list of tables the extract holds only in part (see kpi_engine.coverage)."""
NOT_LOOKED_AFTER_MISSING = {
    "holds_only": "looked_after",
    "reason": "the statutory returns carry missing episodes of looked-after children only "
    "(the SSDA903's); missing from home is in neither",
}


def write_import(
    reads: Sequence[ReturnRead],
    output: Path,
    *,
    into: Path | None = None,
    strict: bool = False,
    population: Path | None = None,
) -> ImportReport:
    """See :func:`kpi_engine.importers.import_returns`."""
    _check_output(output, into)
    reads = _in_order(reads)
    authority = _authority(reads)
    existing, old_manifest = _existing(into)
    tables, counts, rejections, findings, renamed = _stack_all(reads, existing)
    _follow_renames(tables, renamed)
    tables, late, late_counts = _stack.check_across(tables)
    for name, rows in late.items():
        rejections.extend(rows)
        counts[name] = _plus_rejected(counts[name], late_counts.get(name, 0))
    if any(r.kind == "ssda903" for r in reads):
        from kpi_engine.importers.ssda903 import finish

        adoptions, lost = finish(tables, reads)
        _add_derived("adoptions", adoptions, lost, reads, tables, counts, rejections, findings)
        counts = {n: counts[n] for n in contract.TABLES if n in counts}  # the contract's order
    rejections.sort(key=_in_file_order)
    manifest_notes = _partial_tables(tables)
    notes: list[str] = []
    _population(tables, population, notes)
    sources = _sources(reads, old_manifest)
    report = ImportReport(output, counts, rejections, findings, sources, notes)
    if strict and rejections:
        report.written = False
        raise ImportFailure(
            f"{len(rejections)} record(s) rejected and --strict given: nothing written "
            f"(first: {_describe(rejections[0])})"
        )
    manifest = _manifest(reads, authority, old_manifest, sources)
    manifest.pop(PARTIAL_TABLES, None)
    if manifest_notes:
        manifest[PARTIAL_TABLES] = manifest_notes
    _write_folder(output, into, tables, manifest, rejections, findings)
    return report


def _in_file_order(r: Rejection) -> tuple[str, list[object]]:
    """By file, then by line or element path read as numbers (line 9 before line 10)."""
    parts = re.split(r"(\d+)", r.location)
    return r.file, [int(p) if p.isdigit() else p for p in parts]


def _describe(r: Rejection) -> str:
    return f"{r.file}: {r.location}: {r.field}: {r.reason} (got {r.value!r})"


def _check_output(output: Path, into: Path | None) -> None:
    if into is not None:
        if not (into / MANIFEST).exists() and not any(into.glob("*.csv")):
            raise ImportFailure(f"{into}: not an extract folder (no manifest.yaml or tables)")
        if output.resolve() != into.resolve() and output.exists():
            raise ImportFailure(f"{output}: already exists; choose a new folder")
        return
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ImportFailure(
            f"{output}: already exists and is not empty; give a new folder, or --into {output} "
            "to add these returns to the extract there"
        )


def _in_order(reads: Sequence[ReturnRead]) -> list[ReturnRead]:
    ordered = sorted(reads, key=lambda r: (r.year, r.kind))
    seen: dict[tuple[str, int], ReturnRead] = {}
    for read in ordered:
        twin = seen.get((read.kind, read.year))
        if twin is not None:
            raise ImportFailure(
                f"{read.path}: a second {read.kind} return for the year ending 31 March "
                f"{read.year} (the first is {twin.path}); give one return per year"
            )
        seen[(read.kind, read.year)] = read
    return ordered


def _authority(reads: Sequence[ReturnRead]) -> str | None:
    codes = {r.authority for r in reads if r.authority}
    if len(codes) > 1:
        listed = ", ".join(f"{r.path}: {r.authority}" for r in reads if r.authority)
        raise ImportFailure(f"the returns come from different authorities ({listed})")
    return next(iter(codes), None)


def _existing(into: Path | None) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    if into is None:
        return {}, {}
    from kpi_engine.extract import ExtractError, load_extract

    try:
        extract = load_extract(into, references=False)
    except ExtractError as e:
        first = "; ".join(str(p) for p in e.problems[:3])
        raise ImportFailure(f"{into}: the extract to import into has errors ({first})") from None
    manifest_path = into / MANIFEST
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        loaded = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
        manifest = loaded if isinstance(loaded, dict) else {}
    frames = {}
    for name, frame in extract.tables.items():
        typed = _stack.typed(frame, contract.TABLES[name])
        typed[FILE] = str(into / f"{name}.csv")
        typed[LOCATION] = (
            "row " + pd.Series(np.arange(1, len(typed) + 1)).astype("str")
        ).to_numpy()
        frames[name] = typed
    return frames, manifest


def _stack_all(
    reads: Sequence[ReturnRead], existing: dict[str, pd.DataFrame]
) -> tuple[
    dict[str, pd.DataFrame],
    dict[str, TableCount],
    list[Rejection],
    list[Finding],
    dict[str, dict[str, str]],
]:
    tables: dict[str, pd.DataFrame] = {}
    counts: dict[str, TableCount] = {}
    rejections = [r for read in reads for r in read.rejections]
    findings: list[Finding] = [f for read in reads for f in read.findings]
    renamed: dict[str, dict[str, str]] = {}
    names = [n for n in contract.TABLES if n in existing or any(n in r.tables for r in reads)]
    for name in names:
        table = contract.TABLES[name]
        frames = []
        read_rows = rejected = 0
        if name in existing:
            frames.append(existing[name].assign(**{_stack.RANK: _stack.EXISTING, _stack.YEAR: 0}))
        for rank, read in enumerate(reads):
            read_rows += read.records_read.get(name, 0)
            if name not in read.tables:
                continue
            frame = _stack.typed(read.tables[name], table)
            if (frame[FILE] == "").all():
                frame[FILE] = str(read.path)
            rejected += read.records_read.get(name, len(frame)) - len(frame)
            kept, bad = _stack.check_rows(table, frame)
            rejections.extend(bad)
            rejected += len(frame) - len(kept)
            frames.append(kept.assign(**{_stack.RANK: rank, _stack.YEAR: read.year}))
        stacked = _stack.stack_table(table, frames)
        rejections.extend(stacked.rejections)
        rejected += len({(r.file, r.location) for r in stacked.rejections})
        findings.extend(stacked.findings)
        if stacked.renamed:
            renamed[name] = stacked.renamed
        tables[name] = stacked.frame
        before = len(existing.get(name, ()))
        counts[name] = TableCount(
            read=read_rows,
            rejected=rejected,
            merged=stacked.merged,
            imported=read_rows - rejected - stacked.merged,
            existing=before,
            replaced=stacked.replaced,
        )
    return tables, counts, rejections, findings, renamed


def _add_derived(
    name: str,
    frame: pd.DataFrame,
    lost: list[Rejection],
    reads: Sequence[ReturnRead],
    tables: dict[str, pd.DataFrame],
    counts: dict[str, TableCount],
    rejections: list[Rejection],
    findings: list[Finding],
) -> None:
    """A table worked out from the stacked years (the 903's adoptions), stacked with any
    existing rows of it, counted: read = derived + rejected then + rejected while reading."""
    table = contract.TABLES[name]
    while_reading = sum(r.table == name for read in reads for r in read.rejections)
    if frame.empty and not lost and not while_reading:
        return
    latest = max(range(len(reads)), key=lambda i: reads[i].year)
    frame = _stack.typed(frame, table).assign(
        **{_stack.RANK: latest, _stack.YEAR: reads[latest].year}
    )
    kept, bad = _stack.check_rows(table, frame)
    rejections.extend([*lost, *bad])
    before = tables.get(name)
    stacked = _stack.stack_table(table, [f for f in (before, kept) if f is not None])
    findings.extend(stacked.findings)
    tables[name] = stacked.frame
    read = len(frame) + len(lost) + while_reading
    rejected = len(lost) + len(frame) - len(kept) + while_reading
    counts[name] = TableCount(
        read=read,
        rejected=rejected,
        merged=stacked.merged,
        imported=read - rejected - stacked.merged,
        existing=len(before) if before is not None else 0,
        replaced=stacked.replaced,
    )


def _partial_tables(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, str]]:
    """Tables the import leaves holding only part of what the contract's table means.

    Missing episodes come from the 903 alone: every one is of a looked-after child. Counting
    the others (missing from home) on them would give 0, not "no data"; the manifest says so,
    and the engine makes such a count NO DATA. An existing extract (``--into``) holding
    episodes of children not looked after holds the whole table: nothing is said.
    """
    missing = tables.get("missing_episodes")
    if missing is None or missing["looked_after"].eq(False).any():
        return {}
    return {"missing_episodes": dict(NOT_LOOKED_AFTER_MISSING)}


def _plus_rejected(count: TableCount, more: int) -> TableCount:
    return TableCount(
        count.read,
        count.rejected + more,
        count.merged,
        count.imported - more,
        count.existing,
        count.replaced,
    )


def _follow_renames(tables: dict[str, pd.DataFrame], renamed: dict[str, dict[str, str]]) -> None:
    """Referrers of a record whose start date (and so key) changed point at its new key."""
    for target, mapping in renamed.items():
        for name, frame in tables.items():
            for column in contract.TABLES[name].columns:
                if column.references == target and column.name in frame:
                    frame[column.name] = frame[column.name].replace(mapping)


def _population(tables: dict[str, pd.DataFrame], path: Path | None, notes: list[str]) -> None:
    if path is None:
        if RATE_TABLE not in tables:
            notes.append(
                "no population given: per-10,000 rates (children in need, child protection, "
                "looked after) will be NO DATA; give --population FILE (a CSV of year, age, "
                "count: mid-year estimates for ages 0-17)"
            )
        return
    from kpi_engine.importers._population import read_population

    tables[RATE_TABLE] = read_population(path)


def _sources(reads: Sequence[ReturnRead], old: dict[str, Any]) -> list[Source]:
    new = [
        Source(
            r.kind,
            str(r.path),
            r.year,
            r.authority,
            r.sha256,
            {name: len(frame) for name, frame in r.tables.items()},
        )
        for r in reads
    ]
    hashes = {s.sha256 for s in new}
    kept = []
    for entry in old.get("sources") or []:
        if isinstance(entry, dict) and entry.get("sha256") not in hashes:
            kept.append(
                Source(
                    str(entry.get("kind")),
                    str(entry.get("file")),
                    int(entry.get("year") or 0),
                    entry.get("authority"),
                    str(entry.get("sha256")),
                    dict(entry.get("rows") or {}),
                )
            )
    return kept + new


def _manifest(
    reads: Sequence[ReturnRead],
    authority: str | None,
    old: dict[str, Any],
    sources: list[Source],
) -> dict[str, Any]:
    years = [s.year for s in sources if s.year] or [r.year for r in reads]
    old_authority = old.get("authority")
    if authority and old_authority and str(old_authority) != authority:
        raise ImportFailure(
            f"the returns are authority {authority}'s, the extract is {old_authority}'s"
        )
    manifest = {k: v for k, v in old.items() if k not in ("sources",)}
    manifest["authority"] = authority or old_authority
    # the day after the latest return's reference date: the returns know nothing later
    manifest["extract_date"] = dt.date(max(years), 4, 1).isoformat() if years else None
    manifest["source_system"] = old.get("source_system") or SOURCE_SYSTEM
    manifest["sources"] = [s.as_dict() for s in sources]
    return {k: v for k, v in manifest.items() if v is not None}


def _csv_ready(frame: pd.DataFrame, table: contract.Table) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column in table.columns:
        values = frame[column.name]
        if column.type == "date":
            out[column.name] = values.dt.strftime("%Y-%m-%d")
        elif column.type == "datetime":
            out[column.name] = values.dt.strftime("%Y-%m-%dT%H:%M")
        elif column.type == "month":
            out[column.name] = values.dt.strftime("%Y-%m")
        elif column.type == "bool":
            out[column.name] = values.map({True: "true", False: "false"}).astype("str")
        else:
            out[column.name] = values
    return out


def _write_folder(
    output: Path,
    into: Path | None,
    tables: dict[str, pd.DataFrame],
    manifest: dict[str, Any],
    rejections: list[Rejection],
    findings: list[Finding],
) -> None:
    parent = output.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    # the rows each table now holds: an existing extract's declaration would be out of date,
    # and the loader refuses a table whose rows differ from the manifest's (a truncated copy)
    declared = dict(manifest.get("rows") or {})
    declared.update({name: len(frame) for name, frame in tables.items()})
    manifest = {**manifest, "rows": declared}
    build = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=parent))
    try:
        for name, frame in tables.items():
            table = contract.TABLES[name]
            ordered = frame.sort_values(list(table.column_names[:1]), kind="stable")
            _csv_ready(ordered, table).to_csv(build / f"{name}.csv", index=False)
        _rows_csv(rejections, Rejection).to_csv(build / REJECTED_ROWS, index=False)
        _rows_csv(findings, Finding).to_csv(build / FINDINGS, index=False)
        (build / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
        _replace(build, output)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def _rows_csv(rows: Sequence[object], kind: type) -> pd.DataFrame:
    names = [f.name for f in dataclasses.fields(kind)]
    return pd.DataFrame(
        {n: np.array([getattr(r, n) for r in rows], dtype=object) for n in names}, columns=names
    )


def _replace(build: Path, output: Path) -> None:
    if output.exists():
        aside = output.with_name(f".{output.name}.old")
        shutil.rmtree(aside, ignore_errors=True)
        output.rename(aside)
        build.rename(output)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        build.rename(output)
