"""Where a command's logs go: a file per run, the console kept for what the user must read.

By default (no ``--verbose``) the CLI writes every log line of the run, Python's and the
JVM's (Spark, Delta, Hive, log4j), to one file, ``<lakehouse>/_logs/<command>-<UTC time>.log``
(a temporary folder when the lakehouse is on object storage), and prints its path once on
stderr. The console shows the command's own output (stdout), Python warnings and errors
(stderr), and for an unexpected failure one line naming it and the log file. ``--verbose``
keeps everything on the console as before, tracebacks included.

The JVM side: :func:`distillwatch.spark.build_spark` points log4j2 at a properties file
written beside the log (:func:`log4j_options`) when :data:`ENV` names a log file; the JVM
appends to the same file as Python. Only a session this process starts is affected (on a
cluster or Databricks the driver's own logging stays as the platform sets it).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import tempfile
from pathlib import Path

from distillwatch.storage import is_remote, local_path

ENV = "DISTILLWATCH_LOG_FILE"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers kept at WARNING: their INFO lines are chatter (xgboost.spark's training tasks take
# the driver's level for their own stderr handler).
NOISY = ("py4j", "alembic", "urllib3", "great_expectations", "XGBoost-PySpark", "mlflow")

_LOG4J = """\
# Written by distillwatch (distillwatch/logs.py): the JVM's log lines go to the run's log file.
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yyyy-MM-dd HH:mm:ss,SSS}} %p jvm.%c{{1}}: %m%n%ex
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
"""


def log_dir(lakehouse: str) -> Path:
    """``<lakehouse>/_logs`` for a local lakehouse, else ``<tmp>/distillwatch-logs``."""
    if is_remote(lakehouse):
        return Path(tempfile.gettempdir()) / "distillwatch-logs"
    return local_path(lakehouse) / "_logs"


def setup(command: str, lakehouse: str, verbose: bool, level: str = "INFO") -> Path | None:
    """Configure logging for one CLI run; returns the log file (None with ``verbose``)."""
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if verbose:
        logging.basicConfig(level=level.upper(), format=FORMAT, stream=sys.stderr, force=True)
        return None
    # MLflow writes its own INFO lines and artifact-download bars to stderr, not through logging.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    folder = log_dir(lakehouse)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = folder / f"{command}-{stamp}-{os.getpid()}.log"
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setLevel(level.upper())
    to_console = logging.StreamHandler(sys.stderr)
    to_console.setLevel(logging.WARNING)
    logging.basicConfig(level=level.upper(), format=FORMAT, handlers=[to_file, to_console], force=True)
    for h in (to_file, to_console):
        h.setFormatter(logging.Formatter(FORMAT))
    os.environ[ENV] = str(path)
    return path


def log4j_options() -> str | None:
    """The driver JVM options sending log4j2 to the run's log file, when :data:`ENV` is set."""
    target = os.environ.get(ENV)
    if not target:
        return None
    path = Path(target)
    props = path.with_suffix(".log4j2.properties")
    props.write_text(_LOG4J.format(path=str(path).replace("\\", "/")), encoding="utf-8")
    return f"-Dlog4j2.configurationFile=file:{props}"
