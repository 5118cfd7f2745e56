"""File listing through Hadoop's FileSystem, so local folders and cloud paths behave alike."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import SparkSession


def _fs_path(spark: SparkSession, folder: str):  # type: ignore[no-untyped-def]
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
    return fs, path


def folder_exists(spark: SparkSession, folder: str) -> bool:
    fs, path = _fs_path(spark, folder)
    return bool(fs.exists(path)) and bool(fs.getFileStatus(path).isDirectory())


def list_files(spark: SparkSession, folder: str, globs: Sequence[str]) -> list[str]:
    """Files in ``folder`` (not recursive) matching any of ``globs``, sorted, each once."""
    fs, path = _fs_path(spark, folder)
    found: set[str] = set()
    for pattern in globs:
        statuses = fs.globStatus(spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path, pattern))  # type: ignore[attr-defined]
        for st in statuses or []:
            if st.isFile() and not st.getPath().getName().startswith((".", "_")):
                found.add(str(st.getPath().toString()))
    return sorted(found)
