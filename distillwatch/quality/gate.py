"""Write–audit–publish: the data-quality gate every daily table goes through.

``publish_day`` stages a day, validates it with the table's Great Expectations suite
(``conf/expectations/<table>.yaml``) on the Spark DataFrame itself, records every
expectation in ``dq_results`` and the GX Data Docs site, and only then replaces the day
in the published table (a Data Docs page for a run with a failed expectation, or for every
run: ``quality.data_docs``). A failed critical expectation raises :class:`QualityGateFailed`
and leaves the published table exactly as it was. :class:`StagedDay` does the same for
several tables of one day (the gold tables of ``attribute``): each is staged and audited,
and none is published unless every one passed. ``validate_table`` runs a suite on an
already published day (``distillwatch validate``).

Staging is a folder per table-day and run, ``<quality.staging_dir>/<table>/<day>/<run>``
(under the lakehouse: ``_staging/``), of Parquet files on a local folder and a Delta table
on an object store (``quality.staging_format``). A run killed before publication leaves only such a
folder, which no reader sees and ``maintain`` removes; the published tables are untouched.

Cost: one extra write and one extra read of the day per table. The rows are computed once
and written to the staging folder (:func:`_stage`); the audit and the publishing write read
that copy, persisted (the one place a staged day is cached) unless the caller says the day
is too large to cache (``cache=False``: silver, whose features read the published copy
instead). GX bundles the column aggregates of all expectations into a few Spark jobs over
that copy (uniqueness is one extra shuffle per key), and only failed expectations pay for a
sample of offending values (see :func:`_run_gx`), so validation does not rescan storage per
expectation. The volume baseline counts only the trailing days of the target table
(partition-pruned).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillwatch import files, tables
from distillwatch.config import repo_conf_dir
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.lakehouse import Lakehouse
from distillwatch.quality.suites import (
    ExpectationSpec,
    SuiteSpec,
    VolumeBaseline,
    load_suite,
    run_parameters,
    to_gx_suite,
    volume_baseline,
)
from distillwatch.spark import job_description
from distillwatch.storage import is_remote, local_path

log = logging.getLogger(__name__)

# No usage statistics (no network) and no chatty GX logs, whoever imports this first.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.WARNING)


# -- results -------------------------------------------------------------------------
@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result for one run: what ``dq_results`` stores per row."""

    name: str
    type: str
    column: str | None
    critical: bool
    success: bool
    observed: str
    details: str = field(default="{}", compare=False)

    def line(self) -> str:
        sev = "CRITICAL" if self.critical else "warning"
        state = "ok" if self.success else "FAILED"
        col = f" [{self.column}]" if self.column else ""
        return f"{state:6} {sev:8} {self.name}{col}: {self.observed}"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def summarize_result(
    spec: ExpectationSpec, result: Mapping[str, Any], exception: str | None
) -> tuple[str, str]:
    """(short observed value, JSON details) of one GX result dict.

    Offending values are kept only for non-redacted columns.
    """
    res = dict(result or {})
    if exception:
        return f"error: {exception.splitlines()[0][:300]}", json.dumps({"exception": exception[:2000]})
    if "observed_value" in res:
        observed = json.dumps(_jsonable(res["observed_value"]))
    elif "unexpected_count" in res:
        n, total = res.get("unexpected_count") or 0, res.get("element_count") or 0
        pct = res.get("unexpected_percent") or 0.0
        observed = f"{n} of {total} rows unexpected ({pct:.2f}%)"
        sample = res.get("partial_unexpected_list") or []
        if sample:
            observed += f", e.g. {json.dumps(_jsonable(sample[:5]))}"
    else:
        observed = json.dumps(_jsonable(res)) if res else "n/a"
    return observed, json.dumps(_jsonable(res), sort_keys=True)


def failure_message(table: str, day: str, failed: Sequence[ExpectationOutcome]) -> str:
    """What a blocked gate tells its user: each failed critical expectation and its observed value."""
    lines = [f"quality gate failed for {table} {day}: {len(failed)} critical expectation(s) failed"]
    lines += [f"  - {o.name}{f' [{o.column}]' if o.column else ''}: observed {o.observed}" for o in failed]
    return "\n".join(lines)


class QualityGateFailed(UserError):
    """At least one staged table-day failed a critical expectation; nothing was published.

    ``result`` is the first failed table's :class:`GateResult`, ``results`` all of them.
    A user error: the CLI prints the message and exits 1 (as ``validate`` does for a failed
    day), and ``daily`` records it as the step's message in ``runs``.
    """

    exit_code = 1

    def __init__(self, *results: GateResult) -> None:
        lines = [failure_message(r.table, r.day, r.failed_critical) for r in results]
        if len(results) > 1:
            names = ", ".join(r.table for r in results)
            lines.insert(
                0, f"nothing of the day published: {len(results)} tables failed their gate ({names})"
            )
        super().__init__("\n".join(lines))
        self.result = results[0]
        self.results = results


@dataclass(frozen=True)
class GateResult:
    """The outcome of validating one table-day: every expectation, and whether it was published."""

    run_id: str
    table: str
    day: str
    outcomes: tuple[ExpectationOutcome, ...]
    row_count: int
    published: bool
    baseline: str
    staging_path: str | None = None
    data_docs: str | None = None

    @property
    def passed(self) -> bool:
        """Every critical expectation succeeded (warnings never block)."""
        return not self.failed_critical

    @property
    def failed_critical(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if o.critical and not o.success)

    @property
    def failed_warnings(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.critical and not o.success)


# -- public API ---------------------------------------------------------------------
def publish_day(
    ctx: JobContext,
    df: DataFrame,
    table: str,
    day: str | dt.date,
    date_col: str = "event_date",
    cache: bool = True,
) -> GateResult:
    """Stage ``df`` (one day of ``table``), validate it, record results, publish if clean.

    The rows must have the catalog's columns (``Lakehouse.conform``). Publication is a
    ``replaceWhere`` of exactly the validated (staged) rows: one atomic Delta commit. Raises
    :class:`QualityGateFailed` when any critical expectation fails; the target table then
    keeps its previous version untouched. ``cache=False`` reads the staged copy from
    storage for each pass instead of caching it (days too large for the driver's storage).
    """
    with StagedDay(ctx, day) as staged:
        staged.stage(table, df, date_col=date_col, cache=cache)
        return staged.publish()[table]


@dataclass
class _Staged:
    table: str
    df: DataFrame
    path: str
    date_col: str
    result: GateResult


class StagedDay:
    """Write–audit–publish of several tables of one day, all or nothing.

    :meth:`stage` writes a table's rows to its staging folder, reads them back and runs the
    table's suite (a table without one is staged only, so that every table of the day is
    computed before any is published); :meth:`publish` then writes every staged table to its
    published location the way the catalog declares it (``Lakehouse.publish``: replaceWhere
    of the day, or MERGE), or, when any staged table failed a critical expectation, publishes
    none and raises :class:`QualityGateFailed` naming each. Every outcome is in
    ``dq_results`` either way.

    Each table's publication is its own atomic Delta commit (Delta has no multi-table
    transaction): a process killed between two of them leaves each table as it was or fully
    updated, and the rerun of the day republishes all of them idempotently.

    Use as a context manager: on exit the cached copies are released and the staging
    folders removed (a failed table's is kept when ``quality.keep_failed_staging``).
    """

    def __init__(self, ctx: JobContext, day: str | dt.date) -> None:
        self.ctx = ctx
        self.day = _as_date(day)
        self._staged: dict[str, _Staged] = {}
        # Outcomes of the audits not yet in dq_results: the day's tables are recorded in
        # one commit (at publish, or on close when a later stage raised), not one per table.
        self._pending: list[tuple[str, str, tuple[ExpectationOutcome, ...]]] = []

    def __enter__(self) -> StagedDay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stage(self, table: str, df: DataFrame, date_col: str | None = None, cache: bool = True) -> DataFrame:
        """Stage and audit ``table``'s rows of the day; returns the staged copy (what will be
        published), for rows of later tables computed from it."""
        if table in self._staged:
            raise ValueError(f"{table} is already staged for {self.day}")
        entry = tables.table(table)
        run_id = _new_run_id(table, self.day)
        path = _staging_path(self.ctx, table, self.day, run_id)
        staged = _stage(self.ctx, self.ctx.lake.conform(df, table), path, cache)
        if entry.suite:
            spec = _suite(self.ctx, entry.suite)
            col = date_col or spec.date_column
            outcomes, row_count, baseline, docs = _audit(
                self.ctx, spec, staged, self.day, col, run_id, self.ctx.cfg.quality.data_docs
            )
            self._pending.append((table, run_id, tuple(outcomes)))
            described = baseline.describe()
        else:
            col = date_col or entry.partition or "event_date"
            outcomes, row_count, described, docs = [], staged.count(), "no suite", None
        result = GateResult(
            run_id, table, self.day.isoformat(), tuple(outcomes), row_count, False, described, path, docs
        )
        self._staged[table] = _Staged(table, staged, path, col, result)
        return staged

    @property
    def failed(self) -> tuple[GateResult, ...]:
        return tuple(s.result for s in self._staged.values() if not s.result.passed)

    def publish(self) -> dict[str, GateResult]:
        """Publish every staged table, in staging order, or none (:class:`QualityGateFailed`).

        The outcomes of every audit are in ``dq_results`` before the first table is published."""
        self._record()
        failed = self.failed
        if failed:
            raise QualityGateFailed(*failed)
        out: dict[str, GateResult] = {}
        for s in self._staged.values():
            entry = tables.table(s.table)
            if entry.write == "day":
                self.ctx.lake.replace_day(s.df, s.table, self.day.isoformat(), s.date_col)
                self.ctx.lake.note_published_rows(s.table, self.day.isoformat(), s.result.row_count)
            else:
                self.ctx.lake.publish(s.df, s.table)
            log.info(
                "published %s %s (%d rows, run %s)", s.table, self.day, s.result.row_count, s.result.run_id
            )
            out[s.table] = replace(s.result, published=True, staging_path=None)
        return out

    def _record(self) -> None:
        if self._pending:
            record_results(self.ctx, self.day, self._pending, mode="publish")
            self._pending = []

    def close(self) -> None:
        self._record()
        keep = self.ctx.cfg.quality.keep_failed_staging
        for s in self._staged.values():
            s.df.unpersist()
            if not (keep and not s.result.passed):
                _delete_path(self.ctx, s.path)
        self._staged.clear()


def validate_table(ctx: JobContext, table: str, day: str | dt.date, data_docs: str = "all") -> GateResult:
    """Run ``table``'s suite on its published ``day`` and record the results (never publishes).
    ``data_docs`` as ``quality.data_docs``: ``all`` (an asked-for validation, the default)
    renders a page; the daily validate steps pass the configured policy."""
    day_ = _as_date(day)
    spec = _suite(ctx, table)
    run_id = _new_run_id(table, day_)
    data = ctx.lake.read(table).where(F.col(spec.date_column) == F.lit(day_))
    # Validation makes several passes; cache the day once for all of them.
    data = data.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        outcomes, row_count, baseline, docs = _audit(
            ctx, spec, data, day_, spec.date_column, run_id, data_docs
        )
    finally:
        data.unpersist()
    record_results(ctx, day_, [(table, run_id, tuple(outcomes))], mode="validate")
    return GateResult(
        run_id, table, day_.isoformat(), tuple(outcomes), row_count, False, baseline.describe(), None, docs
    )


# -- the audit ------------------------------------------------------------------------
def _audit(
    ctx: JobContext,
    spec: SuiteSpec,
    data: DataFrame,
    day: dt.date,
    date_col: str,
    run_id: str,
    data_docs: str,
) -> tuple[list[ExpectationOutcome], int, VolumeBaseline, str | None]:
    """Validate one table-day; ``data_docs`` (``quality.data_docs``) says whether it gets a
    Data Docs page: ``all``, ``failures`` or ``none``."""
    if data_docs not in ("all", "failures", "none"):
        raise UserError(f"quality.data_docs must be all, failures or none, not {data_docs!r}")
    conf = ctx.cfg.quality
    counts = _trailing_counts(ctx.lake, spec.table, date_col, day, conf.volume_window_days)
    baseline = volume_baseline(counts, conf)
    actors = _known_actors(ctx.lake) if "known_actors" in spec.parameters else []
    params = run_parameters(day, conf, baseline, actors)
    outcomes, docs = _run_gx(ctx, spec, data, params, run_id, data_docs)
    row_count = data.count()  # served from the cache (the caller records the outcomes)
    failed = [o for o in outcomes if not o.success]
    for o in failed:
        log.log(logging.ERROR if o.critical else logging.WARNING, "%s %s: %s", spec.table, day, o.line())
    return outcomes, row_count, baseline, docs


def _gx_context(docs_dir: Path | None) -> Any:
    """An ephemeral GX context: in-memory stores, no analytics, no progress bars."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites: dict[str, Any] = {}
    if docs_dir is not None:
        sites["local_site"] = {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites=sites,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _run_gx(
    ctx: JobContext, spec: SuiteSpec, data: DataFrame, params: dict[str, Any], run_id: str, data_docs: str
) -> tuple[list[ExpectationOutcome], str | None]:
    """Validate ``data`` with the suite in two GX passes over the cached day.

    1. Gate: the whole suite with ``BOOLEAN_ONLY`` results. GX bundles the unexpected
       counts of all map expectations into a few aggregate jobs (8 Spark jobs for the
       28-expectation scores suite, against 28 with ``BASIC``, which adds one
       filter+limit job per map expectation for its sample of offending values).
    2. Explain: a checkpoint over the failed expectations plus the cheap aggregate ones
       (row count, max, types) with ``BASIC`` results, which gives observed values and
       offending samples, and renders Data Docs. On a clean day it costs only the
       aggregate expectations.
    """
    site = ctx.layout.data_docs
    # GX writes a site into a local folder: a remote site is rendered into a temporary one
    # and copied up through Hadoop FS (its static assets once).
    remote = is_remote(site)
    docs_dir = Path(tempfile.mkdtemp(prefix="distillwatch-docs-")) if remote else local_path(site)
    try:
        outcomes, rendered = _validate(ctx, spec, data, params, run_id, docs_dir, data_docs)
        if remote and rendered:
            files.copy_folder(ctx.spark, docs_dir, site, keep=("static",))
    finally:
        if remote:
            shutil.rmtree(docs_dir, ignore_errors=True)
    if not rendered:
        return outcomes, None
    return outcomes, (f"{site}/index.html" if remote else str(docs_dir / "index.html"))


def _validate(
    ctx: JobContext,
    spec: SuiteSpec,
    data: DataFrame,
    params: dict[str, Any],
    run_id: str,
    docs_dir: Path,
    data_docs: str,
) -> tuple[list[ExpectationOutcome], bool]:
    """The two GX passes of :func:`_run_gx`, Data Docs into ``docs_dir`` as ``data_docs``
    says; also says whether a Data Docs page was rendered."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    conf = ctx.cfg.quality
    docs_dir.mkdir(parents=True, exist_ok=True)
    context = _gx_context(docs_dir)
    # persist=False: the caller caches the day once, in one place.
    source = context.data_sources.add_spark("distillwatch", persist=False)
    batch_def = source.add_dataframe_asset(spec.table).add_batch_definition_whole_dataframe("day")
    full = to_gx_suite(spec, f"{spec.table}_gate")
    gate = batch_def.get_batch(batch_parameters={"dataframe": data}).validate(
        full, result_format="BOOLEAN_ONLY", expectation_parameters=params
    )
    by_name = {e.name: e for e in spec.expectations}
    passed: dict[str, bool] = {}
    errors: dict[str, str] = {}
    for r in gate.results:
        name = r.expectation_config.meta["name"]
        info = r.exception_info or {}
        if info.get("raised_exception"):
            errors[name] = str(info.get("exception_message"))
        passed[name] = bool(r.success) and name not in errors

    map_types = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    explain = set()
    for x in full.expectations:
        name = (x.meta or {})["name"]  # every expectation of a suite carries its name (to_gx_suite)
        if not passed.get(name, False) or not isinstance(x, map_types):
            explain.add(name)
    details: dict[str, tuple[str, str]] = {}
    render = data_docs == "all" or (
        data_docs == "failures" and any(not passed.get(e.name, False) for e in spec.expectations)
    )
    render = render and bool(explain)
    if explain:
        subset = replace(spec, expectations=tuple(e for e in spec.expectations if e.name in explain))
        suite = context.suites.add(to_gx_suite(subset, spec.table))
        vd = context.validation_definitions.add(
            gx.ValidationDefinition(name=run_id, data=batch_def, suite=suite)
        )
        actions: list[gx.checkpoint.ValidationAction] = (
            [gx.checkpoint.UpdateDataDocsAction(name="data_docs")] if render else []
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{spec.table}_explain",
                validation_definitions=[vd],
                actions=actions,
                result_format={
                    "result_format": "BASIC",
                    "partial_unexpected_count": conf.partial_unexpected_count,
                },
            )
        )
        run = checkpoint.run(
            batch_parameters={"dataframe": data},
            expectation_parameters=params,
            run_id=RunIdentifier(run_name=run_id),
        )
        redacted = set(conf.redacted_columns)
        for suite_result in run.run_results.values():
            for r in suite_result.results:
                e = by_name[r.expectation_config.meta["name"]]
                result = dict(r.result or {})
                if e.column in redacted:
                    result.pop("partial_unexpected_list", None)
                details[e.name] = summarize_result(e, result, errors.get(e.name))

    outcomes: list[ExpectationOutcome] = []
    for e in spec.expectations:
        # An expectation GX returned no result for counts as failed, never as passed.
        ok = passed.get(e.name, False)
        if e.name in details:
            observed, detail = details[e.name]
        elif e.name in errors:
            observed, detail = summarize_result(e, {}, errors[e.name])
        elif e.name not in passed:
            observed, detail = "error: no result", "{}"
        else:
            observed, detail = "0 unexpected rows", "{}"
        outcomes.append(ExpectationOutcome(e.name, e.type, e.column, e.critical, ok, observed, detail))
    return outcomes, render


# -- lakehouse helpers ---------------------------------------------------------------
def _suite(ctx: JobContext, table: str) -> SuiteSpec:
    return load_suite(repo_conf_dir(), table, ctx.cfg.quality.redacted_columns)


def _as_date(day: str | dt.date) -> dt.date:
    if isinstance(day, dt.datetime):
        return day.date()
    if isinstance(day, dt.date):
        return day
    try:
        return dt.date.fromisoformat(day)
    except ValueError as exc:
        raise ValueError(f"day must be YYYY-MM-DD, got {day!r}") from exc


def _new_run_id(table: str, day: dt.date) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{table}-{day.isoformat()}-{stamp}-{uuid.uuid4().hex[:8]}"


def _staging_path(ctx: JobContext, table: str, day: dt.date, run_id: str) -> str:
    return f"{ctx.layout.staging}/{table}/{day.isoformat()}/{run_id}"


def staging_format(ctx: JobContext, path: str) -> str:
    """``parquet`` or ``delta``: how a staged day at ``path`` is written (``quality.staging_format``)."""
    fmt = ctx.cfg.quality.staging_format
    if fmt == "auto":
        return "delta" if is_remote(path) else "parquet"
    if fmt not in ("parquet", "delta"):
        raise UserError(f"quality.staging_format must be auto, parquet or delta, not {fmt!r}")
    return fmt


def _stage(ctx: JobContext, df: DataFrame, path: str, cache: bool = True) -> DataFrame:
    """Write the day to its staging folder and return it read back (persisted unless
    ``cache`` is False).

    The one place a staged day is cached: GX's metric passes, the row count and the
    publishing write all read this copy, so ``df`` is computed exactly once and what is
    published is exactly what was validated.
    """
    with job_description(ctx.spark, f"stage {path.rsplit('/', 3)[-3]}"):
        fmt = staging_format(ctx, path)
        df.write.format(fmt).mode("overwrite").save(path)
    staged = ctx.spark.read.format(fmt).load(path)
    return staged.persist(StorageLevel.MEMORY_AND_DISK) if cache else staged


def _delete_path(ctx: JobContext, path: str) -> None:
    """Remove a staging folder through Hadoop FS (works for local and cloud roots)."""
    jvm = ctx.spark.sparkContext._jvm  # noqa: SLF001
    hpath = jvm.org.apache.hadoop.fs.Path(path)  # type: ignore[union-attr]
    hpath.getFileSystem(ctx.spark.sparkContext._jsc.hadoopConfiguration()).delete(hpath, True)  # noqa: SLF001


def _trailing_counts(lake: Lakehouse, table: str, date_col: str, day: dt.date, window: int) -> list[int]:
    """Row counts of the trailing ``window`` published days of ``table`` (days present only).

    Reads only those partitions; the result has at most ``window`` rows.
    """
    if not lake.exists(table):
        return []
    first = day - dt.timedelta(days=window)
    rows = (
        lake.read(table)
        .where((F.col(date_col) >= F.lit(first)) & (F.col(date_col) < F.lit(day)))
        .groupBy(date_col)
        .count()
        .collect()
    )
    return [int(r["count"]) for r in rows]


def _known_actors(lake: Lakehouse) -> list[str]:
    """Distinct actors of the threat_intel dimension (a small table: collect is bounded)."""
    if not lake.exists(tables.THREAT_INTEL):
        log.warning("no %s table: every non-null actor will fail the known-actor check", tables.THREAT_INTEL)
        return []
    actors = lake.read(tables.THREAT_INTEL).where(F.col("actor").isNotNull()).select("actor")
    if lake.exists(tables.ANALYST_DECISIONS):  # an actor an analyst confirmed is known too
        confirmed = lake.read(tables.ANALYST_DECISIONS).where(F.col("action") == "confirm")
        actors = actors.unionByName(confirmed.where(F.col("actor").isNotNull()).select("actor"))
    rows = actors.distinct().collect()
    return sorted(str(r[0]) for r in rows)


def record_results(
    ctx: JobContext,
    day: dt.date,
    audits: Sequence[tuple[str, str, Sequence[ExpectationOutcome]]],
    mode: str,
) -> None:
    """Append the outcomes of ``audits`` (table, run id, outcomes) of ``day`` to ``dq_results``
    in one commit. Run ids are new for every audit, so the rows are new by construction; the
    append is idempotent under the first run id (a retried write is a no-op) and reads
    nothing of the table (an insert-only MERGE cost 3-5 s per call on a small day)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [
        (
            run_id,
            table,
            day,
            o.name,
            o.type,
            o.column,
            o.critical,
            o.success,
            o.observed,
            o.details,
            mode,
            now,
        )
        for table, run_id, outcomes in audits
        for o in outcomes
    ]
    ctx.lake.create_if_missing(tables.DQ_RESULTS)
    if not rows:
        return
    df = ctx.spark.createDataFrame(rows, tables.schema(tables.DQ_RESULTS))
    entry = tables.table(tables.DQ_RESULTS)
    ctx.lake.append(df, tables.DQ_RESULTS, entry.partition_by, once_as=f"dq_results:{audits[0][1]}")
