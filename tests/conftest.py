"""One SparkSession for the whole test run (Spark start-up is the slowest thing here).

Settings differ from production only where a tiny test dataset needs it; each says why.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from distillwatch.config import Config, load_config  # noqa: E402
from distillwatch.context import JobContext  # noqa: E402
from distillwatch.lakehouse import Lakehouse  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

TEST_SPARK_CONF = {
    # Tiny data: one shuffle partition avoids 8 near-empty tasks per shuffle.
    "spark.sql.shuffle.partitions": "1",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.default.parallelism": "2",
    # No UI server: faster start, no port clashes between concurrent test runs.
    "spark.ui.enabled": "false",
    "spark.driver.memory": "3g",
    # Small broadcast threshold is irrelevant at this size; keep plans as in prod.
}


@pytest.fixture(scope="session")
def cfg() -> Config:
    return load_config("local")


@pytest.fixture(scope="session")
def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dw")


@pytest.fixture(scope="session")
def ctx(cfg: Config, session_root: Path) -> Iterator[JobContext]:
    """The session's JobContext: its lakehouse (and Derby metastore) live in a tmp folder."""
    context = JobContext(
        cfg=cfg,
        landing=str(session_root / "landing"),
        lakehouse_root=str(session_root / "lakehouse"),
        spark_extra=TEST_SPARK_CONF,
    )
    yield context
    context.spark.stop()


@pytest.fixture(scope="session")
def spark(ctx: JobContext):  # type: ignore[no-untyped-def]
    return ctx.spark


@pytest.fixture()
def lake(ctx: JobContext, tmp_path: Path) -> Lakehouse:
    """A fresh lakehouse folder per test (same Spark session, same metastore).

    Each test gets its own database name too, so registered table names never collide.
    """
    db = "t_" + os.urandom(4).hex()
    return Lakehouse(ctx.spark, str(tmp_path / "lakehouse"), db)


@pytest.fixture()
def job_ctx(ctx: JobContext, tmp_path: Path) -> JobContext:
    """A JobContext sharing the session's Spark but with its own landing and lakehouse."""
    from dataclasses import replace

    db = "t_" + os.urandom(4).hex()
    c = JobContext(
        cfg=replace(ctx.cfg, database=db),
        landing=str(tmp_path / "landing"),
        lakehouse_root=str(tmp_path / "lakehouse"),
        spark_extra=TEST_SPARK_CONF,
    )
    c.__dict__["spark"] = ctx.spark  # share the one session (cached_property slot)
    return c


# The collection order of the files whose set-up runs jobs for minutes. pytest-xdist's
# --dist loadfile hands out files by their number of tests, largest first, and keeps this order
# only among files with as many tests. Handing these out first (--no-loadscope-reorder) was
# measured slower on 2 cores (2026-12-06: 18:43 against 18:18; the end-to-end world's set-up
# 809 s against 359 s, run beside the features and attribution files instead of the short ones).
_FIRST = (
    "test_e2e.py",
    "test_features.py",
    "test_attribution.py",
    "test_sql.py",
    "test_ingest.py",
    "test_quality.py",
    "test_simulate.py",
    "test_models.py",
    "test_linkage.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(_FIRST)))  # stable: file order kept
