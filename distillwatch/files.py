"""Files through Hadoop's FileSystem, so local folders and cloud paths behave alike.

Listing globs (the landing folder) always goes through Hadoop FS. The small files of a run
(reports, Data Docs pages, day leases) are written with Python when their location is a
local folder, and through the session's Hadoop FS (``s3a://``, ``abfss://``, ``gs://``...,
whatever connector the session has) when it is a URI: never into a local folder named
after the URI's scheme.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from pyspark.sql import SparkSession

from distillwatch.storage import is_remote, local_path, scheme

log = logging.getLogger(__name__)

# Hadoop 3.4's option for a create that fails when the object exists (S3A sends
# If-None-Match: * with the PUT, atomic on S3 and on stores that implement it).
CONDITIONAL_CREATE = "fs.option.create.conditional.overwrite"


def _jvm(spark: SparkSession) -> Any:
    return cast(Any, spark.sparkContext)._jvm


def _fs_path(spark: SparkSession, folder: str) -> tuple[Any, Any]:
    path = _jvm(spark).org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(cast(Any, spark.sparkContext)._jsc.hadoopConfiguration())
    return fs, path


def folder_exists(spark: SparkSession, folder: str) -> bool:
    fs, path = _fs_path(spark, folder)
    return bool(fs.exists(path)) and bool(fs.getFileStatus(path).isDirectory())


def list_files(spark: SparkSession, folder: str, globs: Sequence[str]) -> list[str]:
    """Files in ``folder`` (not recursive) matching any of ``globs``, sorted, each once."""
    fs, path = _fs_path(spark, folder)
    found: set[str] = set()
    for pattern in globs:
        statuses = fs.globStatus(_jvm(spark).org.apache.hadoop.fs.Path(path, pattern))
        for st in statuses or []:
            if st.isFile() and not st.getPath().getName().startswith((".", "_")):
                found.add(str(st.getPath().toString()))
    return sorted(found)


# -- small files of a run ------------------------------------------------------------
def write_text(spark: SparkSession, location: str, text: str) -> None:
    """Write (or replace) one small text file; readers see the old or the new content."""
    if not is_remote(location):
        path = local_path(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)  # atomic on POSIX
        return
    fs, path = _fs_path(spark, location)
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()  # an object store makes the object visible at close, whole


def read_text(spark: SparkSession, location: str) -> str | None:
    """One small text file's content, None when it does not exist."""
    if not is_remote(location):
        try:
            return local_path(location).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
    fs, path = _fs_path(spark, location)
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        data = _jvm(spark).org.apache.commons.io.IOUtils.toByteArray(stream)
    finally:
        stream.close()
    return bytes(data).decode("utf-8")


def _already_exists(exc: Exception) -> bool:
    text = str(exc)
    return any(
        marker in text
        for marker in (
            "FileAlreadyExistsException",
            "RemoteFileChangedException",
            "412",
            "PreconditionFailed",
        )
    )


def create_new(spark: SparkSession, location: str, text: str) -> bool:
    """Create a small file only if nothing is there: True if this call created it, False if
    it existed. Atomic against concurrent creators where the storage offers it: O_EXCL on a
    local or POSIX file system; on S3 (``s3a://``) a PUT with ``If-None-Match: *``; on
    abfss/gs the connector's own create-if-absent."""
    if not is_remote(location):
        path = local_path(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return True
    from py4j.protocol import Py4JJavaError

    fs, path = _fs_path(spark, location)
    try:
        if scheme(location) == "s3a":
            builder = fs.createFile(path).overwrite(False).must(CONDITIONAL_CREATE, True)
            out = builder.build()
        else:
            out = fs.create(path, False)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()  # S3A: the conditional PUT happens here
    except Py4JJavaError as exc:
        if _already_exists(exc):
            return False
        raise
    return True


def list_names(spark: SparkSession, folder: str) -> list[str]:
    """Names of the files directly in ``folder`` (none when it does not exist), sorted."""
    if not is_remote(folder):
        path = local_path(folder)
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []
    fs, path = _fs_path(spark, folder)
    if not fs.exists(path):
        return []
    return sorted(str(st.getPath().getName()) for st in fs.listStatus(path) if st.isFile())


def list_folders(spark: SparkSession, folder: str) -> list[tuple[str, float]]:
    """The folders directly in ``folder`` as (path, modification time in epoch seconds)."""
    fs, path = _fs_path(spark, folder)
    if not fs.exists(path):
        return []
    return sorted(
        (str(st.getPath().toString()), st.getModificationTime() / 1000.0)
        for st in fs.listStatus(path)
        if st.isDirectory()
    )


def delete(spark: SparkSession, location: str) -> None:
    """Remove a file or a folder with everything under it (no error when absent)."""
    if not is_remote(location):
        path = local_path(location)
        if path.is_dir():
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        return
    fs, path = _fs_path(spark, location)
    fs.delete(path, True)


def copy_folder(spark: SparkSession, source: Path, location: str, keep: Sequence[str] = ()) -> int:
    """Copy every file under the local folder ``source`` to the same relative paths under
    ``location`` (a URI, through Hadoop FS), replacing files of the same name. Subfolders named
    in ``keep`` are copied only where ``location`` does not have them yet (static assets that
    never change). Returns how many files were copied."""
    fs, root = _fs_path(spark, location)
    jvm = _jvm(spark)
    skip = {k for k in keep if fs.exists(jvm.org.apache.hadoop.fs.Path(root, k))}
    copied = 0
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = file.relative_to(source)
        if rel.parts[0] in skip:
            continue
        # One plain PUT per file through the stream API: copyFromLocalFile's transfer manager
        # (S3A) is built for large files and trips over stores answering 100-continue.
        out = fs.create(jvm.org.apache.hadoop.fs.Path(f"{location.rstrip('/')}/{rel.as_posix()}"), True)
        try:
            out.write(bytearray(file.read_bytes()))
        finally:
            out.close()
        copied += 1
    log.debug("copied %d files from %s to %s", copied, source, location)
    return copied


# -- landing files -------------------------------------------------------------------
def list_all(spark: SparkSession, folder: str) -> list[tuple[str, str, int]]:
    """Every file directly in ``folder`` as (full path, URI, size in bytes), sorted by path;
    the URI is percent-encoded, as Spark's ``_metadata.file_path`` spells it. Names starting
    with ``.`` or ``_`` (writers' temporary and marker files) are left out."""
    fs, path = _fs_path(spark, folder)
    if not fs.exists(path):
        return []
    out = [
        (str(st.getPath().toString()), _spark_uri(st.getPath()), int(st.getLen()))
        for st in fs.listStatus(path)
        if st.isFile() and not st.getPath().getName().startswith((".", "_"))
    ]
    return sorted(out)


def _spark_uri(path: Any) -> str:
    """A Hadoop Path as Spark's ``_metadata.file_path`` spells it: ``scheme:`` + the
    percent-encoded path (``file:/x/a%20b``), with ``//authority`` when there is one
    (``s3a://bucket/key``); ``Path.toUri().toString()`` would give ``file:///x``."""
    u = path.toUri()
    scheme, auth, raw = u.getScheme(), u.getRawAuthority(), str(u.getRawPath())
    if scheme is None:
        return raw
    return f"{scheme}:{raw}" if auth is None else f"{scheme}://{auth}{raw}"


def head_tail(spark: SparkSession, location: str, size: int, n: int = 4) -> tuple[bytes, bytes]:
    """The first and the last ``n`` bytes of a file of ``size`` bytes (magic numbers)."""
    fs, path = _fs_path(spark, location)
    stream = fs.open(path)
    try:  # readNBytes returns the bytes (a byte[] passed in would be filled only on the JVM side)
        head = bytes(stream.readNBytes(min(n, size)))
        tail = b""
        if size:
            stream.seek(max(0, size - n))
            tail = bytes(stream.readNBytes(min(n, size)))
    finally:
        stream.close()
    return head, tail


def checksum(spark: SparkSession, location: str) -> str | None:
    """The file's checksum as ``algorithm:hex``: the store's own when it keeps one (HDFS,
    S3A with ``fs.s3a.etag.checksum.enabled``, ABFS), else CRC-32 of the bytes for a local
    file (read once by the driver, ~1 GB/s), else None."""
    if not is_remote(location):
        import zlib

        crc = 0
        with local_path(location).open("rb") as fh:
            while chunk := fh.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
        return f"crc32:{crc:08x}"
    fs, path = _fs_path(spark, location)
    try:
        got = fs.getFileChecksum(path)
    except Exception:  # noqa: BLE001 - a store without checksums answers in several ways
        return None
    if got is None:
        return None
    return f"{got.getAlgorithmName()}:{bytes(got.getBytes()).hex()}"
