"""The CLI's run log: a file per run by default, the console with --verbose (no Spark)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from distillwatch import logs


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
