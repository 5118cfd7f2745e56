"""The CLI's console: a run log file per run by default, the console with --verbose, and the
live line of a long step's Spark stages."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyspark.sql import SparkSession

from distillwatch import logs, progress


def test_a_run_logs_to_its_file_and_the_jvm_is_pointed_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(logs.ENV, raising=False)
    path = logs.setup("daily", str(tmp_path / "lake"), verbose=False)
    try:
        assert path is not None and path.parent == tmp_path / "lake" / "_logs"
        assert os.environ[logs.ENV] == str(path)
        logging.getLogger("distillwatch.x").info("an info line")
        logging.getLogger("distillwatch.x").warning("a warning")
        err = capsys.readouterr().err
        assert "a warning" in err and "an info line" not in err  # the console: warnings only
        text = path.read_text()
        assert "an info line" in text and "a warning" in text
        opts = logs.log4j_options()
        assert opts is not None and opts.startswith("-Dlog4j2.configurationFile=file:")
        props = Path(opts.split("file:", 1)[1]).read_text()
        assert f"appender.file.fileName = {path}" in props
    finally:
        os.environ.pop(logs.ENV, None)
        logging.basicConfig(level=logging.INFO, force=True)
    assert logs.log4j_options() is None  # no log file: the JVM keeps Spark's own logging
    assert logs.setup("daily", str(tmp_path / "lake"), verbose=True) is None
    assert logs.log_dir("s3a://bucket/lake").name == "distillwatch-logs"


def test_the_stage_line_names_the_step_the_time_and_the_first_active_stage() -> None:
    stages = [
        SimpleNamespace(stageId=9, numTasks=4, numActiveTasks=0, numCompletedTasks=0),
        SimpleNamespace(stageId=7, numTasks=200, numActiveTasks=2, numCompletedTasks=118),
    ]
    line = progress.render("[2026-02-03] features", stages, 72.4)
    assert line == "[2026-02-03] features  1m12s  stage 7: 118/200 tasks (2 running)  +1 more stage(s)"
    assert progress.render("[2026-02-03] score", [], 3.0) == "[2026-02-03] score  3s"


def test_the_stage_line_is_drawn_while_spark_works_and_erased_after(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.delenv(progress.ENV, raising=False)
    with progress.stage_progress(spark, "[d] quiet", stream=out, interval=0.01):
        spark.range(1000).count()
    assert out.getvalue() == ""  # not a terminal: nothing drawn
    monkeypatch.setenv(progress.ENV, "1")
    with progress.stage_progress(spark, "[d] busy", stream=out, interval=0.01):
        spark.range(0, 10_000_000, 1, 8).selectExpr("sum(id * 7 % 13) AS s").collect()
    text = out.getvalue()
    assert "[d] busy" in text and " tasks (" in text
    assert text.endswith(progress.CLEAR)
