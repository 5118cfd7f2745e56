"""A delivery's files, one at a time: what each file is, whether it can be read, and its lines.

Every file of a delivery folder gets a :class:`LandingFile` and, after ingest, one row of
``ingest_files``. Nothing in the folder is skipped without a trace:

- a name the contract does not know (``x.json``, ``y.JSONL``) is ``unrecognised_file`` and is
  not read;
- a file that cannot be read whole is ``corrupt_file:<cause>`` and is not read at all, never
  salvaged in part; the rest of the delivery lands.

Cheap checks come first, on the driver, from the file system alone: a ``.jsonl.gz`` must be
non-empty and start with the gzip magic; a ``.parquet`` must start and end with ``PAR1`` and
have a readable footer. Damage only a full read can see (a gzip stream cut short, a Parquet
page that does not decode) makes the delivery's single read fail; only then is each
compressed file read on its own (one small Spark job per file) to name the broken ones, and
the read is redone without them. A good delivery is read once.

Parquet files are read one schema at a time (files with the same footer schema together),
and each row becomes its JSON text, so a writer whose ``ts`` is a Parquet TIMESTAMP and one
whose ``ts`` is a string go through the same validation without breaking each other.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from distillwatch import files as fs

log = logging.getLogger(__name__)

LINES_SCHEMA = StructType([StructField("raw", StringType()), StructField("source_file", StringType())])

INGESTED = "ingested"
CORRUPT = "corrupt_file"
UNRECOGNISED = "unrecognised_file"

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
# A timestamp written as JSON text: UTC offset and microseconds, which ``try_cast`` reads back.
TS_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"
# Hadoop glob characters: a landing file whose name holds one is read by its escaped name.
_GLOB_CHARS = re.compile(r"([\\\[\]{}*?])")

T = TypeVar("T")


@dataclass(frozen=True)
class LandingFile:
    """One file of a delivery folder."""

    path: str  # as the file system names it (what the readers open)
    uri: str  # as Spark's ``_metadata.file_path`` spells it (percent-encoded): the lines' source_file
    name: str
    size: int
    format: str | None  # "jsonl.gz", "jsonl", "parquet"; None for an unrecognised name
    checksum: str | None = None
    outcome: str = INGESTED
    reason: str | None = None

    @property
    def readable(self) -> bool:
        return self.outcome == INGESTED


def file_format(name: str, globs: Sequence[str]) -> str | None:
    """The contract format of a file name, or None when no configured glob matches it
    (case-sensitive: ``y.JSONL`` is not ``*.jsonl``)."""
    if not any(fnmatch.fnmatchcase(name, g) for g in globs):
        return None
    for suffix in ("jsonl.gz", "jsonl", "parquet"):
        if name.endswith("." + suffix):
            return suffix
    return None


def delivery_folder(landing: str, day: dt.date | str) -> str:
    """The landing folder of one delivery date's exchanges: ``<landing>/exchanges/date=D``."""
    d = day.isoformat() if isinstance(day, dt.date) else day
    return f"{landing.rstrip('/')}/exchanges/date={d}"


def survey(
    spark: SparkSession, folder: str, globs: Sequence[str], with_checksums: bool = True
) -> list[LandingFile]:
    """Every file of ``folder`` with its format and the outcome of the cheap checks."""
    out = []
    for path, uri, size in fs.list_all(spark, folder):
        name = path.rsplit("/", 1)[-1]
        f = LandingFile(path, uri, name, size, file_format(name, globs))
        f = replace(f, checksum=fs.checksum(spark, path) if with_checksums else None)
        if f.format is None:
            f = replace(f, outcome=UNRECOGNISED, reason=UNRECOGNISED)
        else:
            cause = _cheap_check(spark, f)
            if cause:
                f = corrupt(f, cause)
        out.append(f)
    return out


def corrupt(f: LandingFile, cause: str) -> LandingFile:
    return replace(f, outcome=CORRUPT, reason=f"{CORRUPT}:{cause}")


def _cheap_check(spark: SparkSession, f: LandingFile) -> str | None:
    """The cause a file cannot be read, from its size, magic numbers and footer; else None."""
    if f.format == "jsonl":
        return None  # any bytes are lines; an empty file is a delivery of no records
    if f.size == 0:
        return "empty_file"
    head, tail = fs.head_tail(spark, f.path, f.size)
    if f.format == "jsonl.gz":
        return None if head[:2] == GZIP_MAGIC else "not_gzip"
    if f.size < 12 or head != PARQUET_MAGIC:
        return "not_parquet"
    if tail != PARQUET_MAGIC:
        return "truncated_parquet"
    try:
        spark.read.parquet(read_path(f)).schema  # noqa: B018 - reads the footer
    except Exception as exc:  # noqa: BLE001 - any reader error is the file's
        return f"unreadable_parquet_footer ({_first_line(exc)})"
    return None


def read_path(f: LandingFile) -> str:
    """The path to hand a Spark reader: glob characters escaped."""
    return _GLOB_CHARS.sub(r"\\\1", f.path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def read_lines(spark: SparkSession, landing: Sequence[LandingFile]) -> DataFrame:
    """The readable files' records as (``raw`` line, ``source_file``): JSONL lines as they
    are, Parquet rows as their JSON text, one reader per Parquet schema."""
    readable = [f for f in landing if f.readable]
    parts: list[DataFrame] = []
    text = [read_path(f) for f in readable if f.format in ("jsonl", "jsonl.gz")]
    if text:
        parts.append(
            spark.read.text(text).select(
                F.col("value").alias("raw"), F.col("_metadata.file_path").alias("source_file")
            )
        )
    by_schema: dict[str, list[str]] = {}
    for f in readable:
        if f.format == "parquet":
            schema = spark.read.parquet(read_path(f)).schema
            by_schema.setdefault(schema.json(), []).append(read_path(f))
    for paths in by_schema.values():
        pq = spark.read.parquet(*paths)
        parts.append(
            pq.select(
                F.to_json(F.struct(*pq.columns), {"timestampFormat": TS_FORMAT}).alias("raw"),
                F.col("_metadata.file_path").alias("source_file"),
            )
        )
    if not parts:
        return spark.createDataFrame([], LINES_SCHEMA)
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def probe(spark: SparkSession, f: LandingFile) -> str | None:
    """Read one file whole (decompress every block, decode every Parquet page): the cause it
    cannot be read, else None. One Spark job; run only after a delivery's read has failed."""
    try:
        if f.format == "parquet":
            pq = spark.read.parquet(read_path(f))
            pq.select(F.sum(F.length(F.to_json(F.struct(*pq.columns))))).collect()
        else:
            spark.read.text(read_path(f)).select(F.sum(F.length("value"))).collect()
    except Exception as exc:  # noqa: BLE001 - any reader error is the file's
        cause = _cause(exc)
        return (
            f"truncated_{'parquet' if f.format == 'parquet' else 'gzip'}" if cause == "truncated" else cause
        )
    return None


def _cause(exc: BaseException) -> str:
    text = str(exc)
    if "Unexpected end of" in text or "EOFException" in text:
        return "truncated"
    if (
        "Not in GZIP format" in text
        or "ZipException" in text
        or "invalid" in text.lower()
        and "gzip" in text.lower()
    ):
        return "not_gzip"
    if "Parquet" in text or "parquet" in text:
        return "unreadable_parquet"
    return f"unreadable ({_first_line(exc)})"


def with_corrupt_files_set_aside(
    spark: SparkSession, landing: list[LandingFile], action: Callable[[list[LandingFile]], T]
) -> tuple[T, list[LandingFile]]:
    """``action(landing)``; when it fails, each readable compressed file is probed, the broken
    ones are marked corrupt and ``action`` runs again on the rest. Returns the result and the
    files with their final outcomes. The original error is raised when no file is to blame."""
    try:
        return action(landing), landing
    except Exception as first:  # noqa: BLE001 - re-raised below unless a file is to blame
        log.warning("the delivery's read failed (%s); reading each file on its own", _first_line(first))
        probed = []
        blamed = 0
        for f in landing:
            cause = probe(spark, f) if f.readable and f.format in ("jsonl.gz", "parquet") else None
            if cause:
                blamed += 1
                log.warning("%s cannot be read (%s): quarantined as a file", f.path, cause)
                f = corrupt(f, cause)
            probed.append(f)
        if not blamed:
            raise
        return action(probed), probed


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
