"""Where each artifact of a run goes, checked before the run starts.

A lakehouse is a local folder (the default ``data/lakehouse``) or an object-store URI
(``s3a://bucket/prefix``, ``abfss://...``, ``gs://...``). Each artifact goes to a location
valid for its kind of storage:

| artifact | location | written by |
|---|---|---|
| tables | ``<lakehouse>/<table>`` | Spark (Delta) |
| staged days | ``<lakehouse>/<quality.staging_dir>`` | Spark (Parquet, or Delta on an object store) |
| reliable checkpoints | ``spark.checkpoint_dir`` or ``<lakehouse>/_checkpoints`` | Spark |
| day leases | ``<lakehouse>/<locks.dir>`` | :mod:`distillwatch.locks` (O_EXCL file, or a conditional create through Hadoop FS) |
| Data Docs | ``<lakehouse>/<quality.data_docs_dir>`` | GX into a local folder, copied through Hadoop FS when remote |
| reports | ``<lakehouse>/<report.dir>`` | :mod:`distillwatch.files` (Hadoop FS when remote) |
| MLflow store | ``paths.mlflow_tracking_uri``, else SQLite under the state folder | MLflow |
| MLflow artifacts | ``paths.mlflow_artifact_root``, else ``<state>/mlflow/artifacts`` | MLflow |
| Derby metastore | ``<state>/_metastore`` (``spark.local_metastore``) | Spark's embedded Hive |

The *state folder* is ``paths.state_dir``, or the lakehouse itself when it is a local
folder. What needs a POSIX file system (SQLite, Derby) lives there, never on an object
store: with a remote lakehouse and no ``state_dir``, a run needs a tracking server and
``spark.local_metastore`` off, or it refuses to start with a :class:`UserError` naming the
setting. A relative location setting is under the lakehouse; an absolute folder or a URI
is taken as it is. With the defaults every location is under the local lakehouse, as it
always was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from distillwatch.config import Config
from distillwatch.errors import UserError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Schemes MLflow's artifact repositories write (s3a:// is Hadoop's name, unknown to MLflow).
MLFLOW_ARTIFACT_SCHEMES = (
    "file",
    "s3",
    "gs",
    "wasbs",
    "abfss",
    "dbfs",
    "hdfs",
    "mlflow-artifacts",
    "sftp",
    "ftp",
)


def scheme(location: str) -> str | None:
    """The URI scheme of ``location`` (``s3a``, ``dbfs``...), None for a plain path."""
    m = _SCHEME.match(location)
    return m.group(1).lower() if m and len(m.group(1)) > 1 else None


def is_remote(location: str) -> bool:
    """A location that is not a local (or mounted) folder: any URI except ``file:``."""
    return scheme(location) not in (None, "file")


def local_path(location: str) -> Path:
    """The absolute local path of a plain path or ``file:`` URI."""
    if scheme(location) == "file":
        location = re.sub(r"^file:(//)?", "", location)
    return Path(location).resolve()


def _normal(location: str) -> str:
    """An absolute folder or a URI, without a trailing slash."""
    return location.rstrip("/") if is_remote(location) else str(local_path(location))


def under(root: str, location: str) -> str:
    """``location`` when it is absolute or a URI, else ``<root>/<location>``."""
    if scheme(location) or os.path.isabs(location):
        return _normal(location)
    return f"{root.rstrip('/')}/{location.strip('/')}"


def _on_volumes(location: str) -> bool:
    return bool(re.match(r"^(dbfs:)?/Volumes/", location))


@dataclass(frozen=True)
class Layout:
    """Every location of one lakehouse's run (see the module docstring)."""

    lakehouse: str
    remote: bool
    # None only with a remote lakehouse and no paths.state_dir.
    state: Path | None
    locks: str
    staging: str
    checkpoints: str
    data_docs: str
    reports: str
    # The embedded Derby metastore and the warehouse folder of its databases; None when
    # spark.local_metastore is off (the platform's metastore or Unity Catalog).
    metastore: Path | None
    warehouse: Path | None
    mlflow_tracking_uri: str
    # None with a "databricks" tracking URI (the workspace keeps artifacts).
    mlflow_artifact_root: str | None
    # The tracking URI is the default SQLite file under the state folder.
    default_tracking: bool

    def lines(self) -> list[str]:
        """One line per location, for logs and ``docs/object-storage.md``."""
        return [
            f"tables       {self.lakehouse}/<table>",
            f"staging      {self.staging}",
            f"checkpoints  {self.checkpoints}",
            f"leases       {self.locks}",
            f"data docs    {self.data_docs}",
            f"reports      {self.reports}",
            f"metastore    {self.metastore or '(the platform catalog)'}",
            f"mlflow       {self.mlflow_tracking_uri}",
            f"artifacts    {self.mlflow_artifact_root or '(the tracking server)'}",
        ]


def resolve_layout(cfg: Config, lakehouse_root: str, environ: Mapping[str, str] | None = None) -> Layout:
    """Every artifact's location for ``lakehouse_root``, or a :class:`UserError` naming the
    setting to change when one has no valid place. Creates nothing."""
    env = os.environ if environ is None else environ
    paths = cfg.paths
    lake = _normal(lakehouse_root)
    remote = is_remote(lake)
    if _on_volumes(lake):
        raise UserError(
            f"paths.lakehouse {lakehouse_root!r} is a Unity Catalog volume: tables cannot be registered on "
            "/Volumes paths; use a cloud storage URI under an external location (s3://, abfss://, gs://), "
            "and keep volumes for the landing files"
        )
    state: Path | None
    if paths.state_dir:
        if is_remote(paths.state_dir):
            raise UserError(
                f"paths.state_dir {paths.state_dir!r} must be a local or mounted folder (it holds the SQLite "
                "MLflow store and the Derby metastore), not an object-store URI"
            )
        state = local_path(paths.state_dir)
    else:
        state = None if remote else local_path(lake)

    metastore = warehouse = None
    if cfg.spark.local_metastore:
        if state is None:
            raise UserError(
                f"paths.state_dir is not set and the lakehouse {lake} is on object storage: the embedded "
                "Derby metastore (spark.local_metastore) needs a local folder; set paths.state_dir, or "
                "spark.local_metastore: false to use the platform's metastore"
            )
        metastore, warehouse = state / "_metastore", state / "_warehouse"

    tracking = env.get("MLFLOW_TRACKING_URI") or paths.mlflow_tracking_uri
    default_tracking = not tracking
    if not tracking:
        if state is None:
            raise UserError(
                f"paths.state_dir is not set and the lakehouse {lake} is on object storage: MLflow's SQLite "
                "store needs a local or mounted folder; set paths.state_dir, or paths.mlflow_tracking_uri "
                "to a tracking server (http(s)://...) or 'databricks'"
            )
        tracking = f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"
    artifacts: str | None
    if paths.mlflow_artifact_root:
        artifacts = _normal(paths.mlflow_artifact_root)
        if is_remote(artifacts) and scheme(artifacts) not in MLFLOW_ARTIFACT_SCHEMES:
            raise UserError(
                f"paths.mlflow_artifact_root {paths.mlflow_artifact_root!r}: MLflow writes artifacts to "
                f"{', '.join(s + ':' for s in MLFLOW_ARTIFACT_SCHEMES)} (s3:// where Spark says s3a://)"
            )
    elif tracking.split(":", 1)[0].startswith("databricks"):
        artifacts = None
    elif state is not None:
        artifacts = str(state / "mlflow" / "artifacts")
    else:
        raise UserError(
            f"paths.mlflow_artifact_root is not set and the lakehouse {lake} is on object storage without "
            "paths.state_dir: set it to a URI MLflow writes (s3://bucket/mlflow, gs://..., abfss://...)"
        )

    q = cfg.quality
    return Layout(
        lakehouse=lake,
        remote=remote,
        state=state,
        locks=under(lake, cfg.locks.dir),
        staging=under(lake, q.staging_dir),
        checkpoints=_normal(cfg.spark.checkpoint_dir) if cfg.spark.checkpoint_dir else f"{lake}/_checkpoints",
        data_docs=under(lake, q.data_docs_dir),
        reports=under(lake, cfg.report.dir),
        metastore=metastore,
        warehouse=warehouse,
        mlflow_tracking_uri=tracking,
        mlflow_artifact_root=artifacts,
        default_tracking=default_tracking,
    )
