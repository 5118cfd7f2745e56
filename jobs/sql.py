"""``distillwatch sql "SELECT ..."`` and ``distillwatch serve-sql [--port 10000]``.

``sql`` runs one query against the lakehouse's metastore database and prints the result
as a table. ``serve-sql`` starts Spark's Thrift (HiveServer2) server from the pip
installed Spark, with the same Delta jars, extensions and Derby metastore as every job,
bound to ``warehouse.bind_host`` (127.0.0.1 by default). A bind address other than
loopback is refused unless ``warehouse.authentication`` is ``LDAP`` or ``CUSTOM``
(HiveServer2's own password authentication, :func:`auth_hiveconf`): an open port would
serve every table to anyone who reaches it. Embedded Derby admits one JVM at a time, so
stop other jobs on the same lakehouse while it serves.

``create_views(ctx)`` registers every existing table and (re)creates the analyst views;
the daily job calls it after publishing.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from distillwatch.config import Config
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.lakehouse import Lakehouse
from distillwatch.pipelines.views import all_tables, view_sources, view_statements
from distillwatch.spark import spark_settings

log = logging.getLogger(__name__)

THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"


# -- catalog -------------------------------------------------------------------------
def register_tables(lake: Lakehouse) -> list[str]:
    """Register every table of the lakehouse that exists on storage; returns their names."""
    present = [t for t in all_tables() if lake.exists(t)]
    for table in present:
        lake.register(table)
    return present


def create_views(ctx: JobContext) -> list[str]:
    """Register the lakehouse's tables in ``cfg.database`` and (re)create each analyst
    view whose source tables exist. Returns the views created; idempotent."""
    present = set(register_tables(ctx.lake))
    created = []
    for name, statement in view_statements(ctx.lake.namespace).items():
        missing = [t for t in view_sources(name) if t not in present]
        if missing:
            log.info("view %s not created: tables %s do not exist yet", name, missing)
            continue
        ctx.spark.sql(statement)
        created.append(name)
    return created


# -- sql ---------------------------------------------------------------------------------
def add_sql_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "query", help="one SQL statement; unqualified names resolve in the warehouse database"
    )
    parser.add_argument(
        "--max-rows", type=int, default=None, help="rows printed at most (conf warehouse.max_rows)"
    )
    parser.add_argument(
        "--refresh-catalog",
        action="store_true",
        help="register every table of the lakehouse and recreate the views before the query",
    )


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text grid of ``rows`` under ``columns`` (null shown as NULL)."""
    cells = [["NULL" if v is None else str(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return "\n".join([rule, line(list(columns)), rule, *(line(r) for r in cells), rule])


def run_sql(ctx: JobContext, args: argparse.Namespace) -> int:
    max_rows = args.max_rows if args.max_rows is not None else ctx.cfg.warehouse.max_rows
    if args.refresh_catalog:
        created = create_views(ctx)
        log.info("catalog refreshed; views: %s", created)
    ctx.lake.ensure_database()
    if ctx.cfg.catalog:
        ctx.spark.catalog.setCurrentCatalog(ctx.cfg.catalog)
    ctx.spark.catalog.setCurrentDatabase(ctx.cfg.database)
    from pyspark.errors import AnalysisException, ParseException

    try:
        df = ctx.spark.sql(args.query)
        # At most max_rows + 1 rows reach the driver, whatever the query returns.
        rows = df.limit(max_rows + 1).collect()
    except (AnalysisException, ParseException) as exc:
        raise UserError(str(exc).splitlines()[0]) from exc
    emit(format_table(df.columns, [tuple(r) for r in rows[:max_rows]]))
    more = " (more rows not shown)" if len(rows) > max_rows else ""
    emit(f"{min(len(rows), max_rows)} row(s){more}")
    return 0


# -- serve-sql -----------------------------------------------------------------------------
def add_serve_sql_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="Thrift port (conf warehouse.port, 10000)")
    parser.add_argument("--host", default=None, help="bind address (conf warehouse.bind_host, 127.0.0.1)")
    parser.add_argument("--dry-run", action="store_true", help="print the spark-submit command and exit")


def spark_home() -> Path:
    """The Spark distribution inside the pyspark wheel (bin/spark-submit, jars/)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


AUTH_MODES = ("NONE", "LDAP", "CUSTOM")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) resolves only to loopback addresses."""
    import ipaddress

    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(i[4][0]).split("%")[0]).is_loopback for i in infos)


def auth_hiveconf(cfg: Config, host: str) -> list[str]:
    """The ``--hiveconf`` settings of ``warehouse.authentication``; refuses (UserError) an
    unknown mode, an incomplete one, and any non-loopback ``host`` without authentication."""
    w = cfg.warehouse
    mode = (w.authentication or "NONE").upper()
    if mode not in AUTH_MODES:
        raise UserError(
            f"warehouse.authentication must be one of {', '.join(AUTH_MODES)}, got {w.authentication!r}"
        )
    if mode == "NONE":
        if not is_loopback(host):
            raise UserError(
                f"serve-sql: refusing to bind {host} without authentication (every table would be open"
                " to anyone who reaches the port). Bind 127.0.0.1, or set warehouse.authentication"
                " to LDAP (warehouse.ldap_url, ldap_base_dn) or CUSTOM (warehouse.custom_auth_class)"
            )
        return []
    out = [f"hive.server2.authentication={mode}"]
    if mode == "LDAP":
        if not w.ldap_url or not (w.ldap_base_dn or w.ldap_domain):
            raise UserError(
                "warehouse.authentication LDAP needs warehouse.ldap_url and ldap_base_dn (or ldap_domain)"
            )
        out.append(f"hive.server2.authentication.ldap.url={w.ldap_url}")
        if w.ldap_base_dn:
            out.append(f"hive.server2.authentication.ldap.baseDN={w.ldap_base_dn}")
        if w.ldap_domain:
            out.append(f"hive.server2.authentication.ldap.Domain={w.ldap_domain}")
    else:
        if not w.custom_auth_class:
            raise UserError("warehouse.authentication CUSTOM needs warehouse.custom_auth_class")
        out.append(f"hive.server2.custom.authentication.class={w.custom_auth_class}")
    return out


def thrift_server_command(cfg: Config, lakehouse_root: str, host: str, port: int) -> list[str]:
    """The ``spark-submit`` command line of a Thrift server over ``lakehouse_root``.

    Same Delta jars/extension/catalog and the same Derby metastore as
    :func:`distillwatch.spark.build_spark`, so every registered table and view is served.
    """
    conf = spark_settings(cfg, lakehouse_root)
    conf.update(
        {
            "spark.ui.enabled": "false",
            # The Thrift server turns on java.time dates; Delta 4.4's metadata-only answer of
            # min/max(date) then fails with a LocalDate/java.sql.Date ClassCastException
            # (seen with v_campaigns_today's max(event_date)). Scan instead.
            "spark.databricks.delta.optimizeMetadataQuery.enabled": "false",
        }
    )
    cmd = [
        str(spark_home() / "bin" / "spark-submit"),
        "--class",
        THRIFT_SERVER_CLASS,
        "--name",
        "distillwatch-sql",
    ]
    if cfg.spark.master:
        cmd += ["--master", cfg.spark.master]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [
        "--hiveconf",
        f"hive.server2.thrift.port={port}",
        "--hiveconf",
        f"hive.server2.thrift.bind.host={host}",
        "--hiveconf",
        "hive.server2.transport.mode=binary",
    ]
    for setting in auth_hiveconf(cfg, host):
        cmd += ["--hiveconf", setting]
    return [*cmd, "spark-internal"]


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout_s: float, alive: Any = None) -> bool:
    """Poll until ``host:port`` accepts connections; False on timeout or when ``alive()``
    says the server process has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(0.25)
    return False


def run_serve_sql(ctx: JobContext, args: argparse.Namespace) -> int:
    host = args.host or ctx.cfg.warehouse.bind_host
    port = args.port or ctx.cfg.warehouse.port
    metastore = ctx.layout.metastore
    if metastore is not None and not metastore.exists():
        log.warning(
            "no metastore in %s yet: run `distillwatch sql --refresh-catalog ...` first",
            metastore,
        )
    cmd = thrift_server_command(ctx.cfg, ctx.lakehouse_root, host, port)
    if args.dry_run:
        emit(" ".join(cmd))
        return 0
    if port_open(host, port):
        raise UserError(f"{host}:{port} is already in use")
    env = dict(os.environ, SPARK_HOME=str(spark_home()), PYSPARK_PYTHON=sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # The Thrift server logs to its own stderr; ours carries on to the terminal.
    proc = subprocess.Popen(cmd, env=env)

    def _stop(signum: int, frame: FrameType | None) -> None:
        proc.terminate()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if wait_for_port(host, port, ctx.cfg.warehouse.start_timeout_s, alive=lambda: proc.poll() is None):
            emit(
                f"serving {ctx.cfg.database} over Thrift on {host}:{port} (jdbc:hive2://{host}:{port}/{ctx.cfg.database})"
            )
        elif proc.poll() is None:
            log.warning(
                "port %s:%s not open after %ss; still waiting", host, port, ctx.cfg.warehouse.start_timeout_s
            )
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    # Terminated by us on SIGTERM/SIGINT is a normal stop.
    return 0 if rc in (0, -signal.SIGTERM, 143) else rc
