"""The single-node peer: DuckDB computing the same per-account daily aggregation as Spark.

The aggregation ("peer aggregation") is the part of ``account_daily_features`` that a user
would write in one SQL file: the one-pass per-account aggregates (``pipelines.features._base``),
the timing features (``_timing``: hour entropy, inter-arrival gap CV and burstiness) and the
infrastructure-sharing counts (``_sharing``). One output row = one account active on the day.
The content (MinHash near-duplicate) and lockstep features are left out of the peer: they are
several more self-joins that a hand-written SQL would reproduce only approximately.

Spark computes the same columns with the pipeline's own functions (``spark_peer_aggregation``
in ``bench.worker``) from the same Parquet files (the silver Delta table's files of the day),
so the two times are a like-for-like engine comparison. ``compare_outputs`` checks the two
results agree (same accounts, every column within a relative tolerance) before any ratio
is reported.

Run as a subprocess (``python -m bench.peer_duckdb``) so its peak memory is its own.
Raw prompt text is never read: the query selects only the aggregated columns.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

# indicator types of pipelines.silver.INTEL_KEYS, in the same order
INTEL_TYPES = ("ip_prefix", "asn", "payment_fp", "email_domain", "tls_fp", "user_agent", "prompt_example")
SHARED_VALUES = {
    "n_accounts_same_prefix": "ip_prefix",
    "n_accounts_same_payment": "payment_fp",
    "n_accounts_same_tls": "tls_fp",
    "n_accounts_same_user_agent": "user_agent",
    "n_accounts_same_email_domain": "email_domain",
}


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _share(cond: str) -> str:
    return f"avg(CAST(coalesce({cond}, false) AS DOUBLE))"


def peer_sql(files: list[str], newest_model: str | None) -> str:
    """The peer aggregation over the Parquet ``files`` as one DuckDB query."""
    src = "read_parquet([" + ", ".join(_q(f) for f in files) + "])"
    newest = _q(newest_model) if newest_model is not None else "NULL"
    intel = ",\n        ".join(
        f"count_if(list_contains(intel_types, {_q(t)})) AS intel_matches_{t}" for t in INTEL_TYPES
    )
    base = f"""
    SELECT account_id,
        count(*) AS n_exchanges,
        sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens,
        count(DISTINCT hour(ts)) AS active_hours,
        count(DISTINCT hour(ts)) / 24.0 AS hour_coverage,
        count(DISTINCT template_hash) / count(*) AS distinct_templates_per_exchange,
        {_share("cot_elicitation")} AS cot_share,
        {_share("rubric_grading")} AS rubric_share,
        {_share("sensitive_rewrite")} AS sensitive_share,
        CAST(avg(n_messages) AS DOUBLE) AS mean_turns,
        {_share("n_tools > 0")} AS tools_share,
        CAST(avg(tool_calls) AS DOUBLE) AS mean_tool_calls,
        {_share("has_image")} AS image_share,
        {_share("thinking")} AS thinking_share,
        CAST(avg(output_tokens) AS DOUBLE) AS mean_output_tokens,
        CAST(sum(output_tokens) / nullif(sum(input_tokens), 0) AS DOUBLE) AS output_input_ratio,
        {_share("status BETWEEN 400 AND 499")} AS error_4xx_share,
        {_share("status = 429")} AS rate_limited_share,
        {_share(f"model = {newest}")} AS newest_model_share,
        {_share("is_new_model")} AS new_model_share,
        max(signup_path) AS signup_path,
        max(CAST(verified AS DOUBLE)) AS verified,
        {_share("ip_country <> billing_country")} AS country_mismatch_share,
        {_share("is_hosting")} AS hosting_ip_share,
        {_share("is_proxy")} AS proxy_ip_share,
        count(DISTINCT ip_prefix) AS n_prefixes,
        count(DISTINCT asn) AS n_asns,
        count_if(len(intel_types) > 0) AS intel_matches,
        max(intel_confidence) AS intel_max_confidence,
        {intel}
    FROM s GROUP BY account_id"""
    sharing_ctes = []
    sharing_joins = []
    sharing_cols = []
    for i, (name, col) in enumerate(SHARED_VALUES.items()):
        value = (
            f"CASE WHEN NOT coalesce(is_free_mail, false) THEN {col} END" if col == "email_domain" else col
        )
        sharing_ctes.append(
            f"""sh{i}_pairs AS (SELECT DISTINCT account_id, {value} AS v FROM s WHERE {value} IS NOT NULL),
    sh{i} AS (SELECT p.account_id, max(c.n) - 1 AS {name}
              FROM sh{i}_pairs p JOIN (SELECT v, count(*) AS n FROM sh{i}_pairs GROUP BY v) c USING (v)
              GROUP BY p.account_id)"""
        )
        sharing_joins.append(f"LEFT JOIN sh{i} USING (account_id)")
        sharing_cols.append(f"coalesce(sh{i}.{name}, 0) AS {name}")
    sharing = ",\n    ".join(sharing_ctes)
    joins = "\n".join(sharing_joins)
    return f"""
WITH s AS (SELECT * EXCLUDE (prompt, system_prompt) FROM {src}),
    base AS ({base}),
    hours AS (SELECT account_id, hour(ts) AS h, count(*) AS n FROM s GROUP BY ALL),
    hour_ent AS (SELECT account_id, -sum(p * log2(p)) AS hour_entropy
                 FROM (SELECT account_id, n / sum(n) OVER (PARTITION BY account_id) AS p FROM hours)
                 GROUP BY account_id),
    gaps AS (SELECT account_id,
                    epoch_us(ts) / 1e6 - lag(epoch_us(ts) / 1e6) OVER (PARTITION BY account_id ORDER BY ts, request_id) AS gap
             FROM s),
    gap_stats AS (SELECT account_id, count(*) AS _n, avg(gap) AS _mu, stddev_pop(gap) AS _sd
                  FROM gaps WHERE gap IS NOT NULL GROUP BY account_id),
    timing AS (SELECT h.account_id, h.hour_entropy,
                      CASE WHEN _n >= 2 AND _mu > 0 THEN _sd / _mu END AS gap_cv,
                      CASE WHEN _n >= 2 AND _mu > 0 THEN (_sd - _mu) / (_sd + _mu) END AS burstiness
               FROM hour_ent h LEFT JOIN gap_stats g USING (account_id)),
    {sharing}
SELECT base.*, timing.hour_entropy, timing.gap_cv, timing.burstiness,
       {", ".join(sharing_cols)}
FROM base LEFT JOIN timing USING (account_id)
{joins}
"""


def run_duckdb(files: list[str], out: str, threads: int, newest_model: str | None, memory_limit: str) -> dict:
    """Compute the peer aggregation into the Parquet file ``out``; returns timings."""
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = {_q(memory_limit)}")
    con.execute("SET TimeZone = 'UTC'")
    t1 = time.perf_counter()
    con.execute(f"COPY ({peer_sql(files, newest_model)}) TO {_q(out)} (FORMAT parquet)")
    wall = time.perf_counter() - t1
    rows = con.execute(f"SELECT count(*) FROM read_parquet({_q(out)})").fetchone()[0]
    con.close()
    return {
        "wall_s": round(wall, 3),
        "setup_s": round(t1 - t0, 3),
        "rows": int(rows),
        "python_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "duckdb_version": duckdb.__version__,
        "threads": threads,
    }


def compare_outputs(spark_out: str, duckdb_out: str, rel_tol: float = 1e-6) -> dict:
    """Do the Spark and DuckDB results agree? Same accounts and every common column within
    ``rel_tol`` (string columns exactly). Returns counts and the columns that differ."""
    import duckdb

    con = duckdb.connect()
    a = f"read_parquet({_q(spark_out.rstrip('/') + '/*.parquet')})"
    b = f"read_parquet({_q(duckdb_out)})"
    cols_a = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {a}").fetchall()}
    cols_b = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {b}").fetchall()}
    common = [c for c in cols_a if c in cols_b and c != "account_id"]
    n_a = con.execute(f"SELECT count(*) FROM {a}").fetchone()[0]
    n_b = con.execute(f"SELECT count(*) FROM {b}").fetchone()[0]
    matched = con.execute(f"SELECT count(*) FROM {a} x JOIN {b} y USING (account_id)").fetchone()[0]
    differ = []
    for c in common:
        if "VARCHAR" in cols_a[c]:
            cond = f"x.{c} IS DISTINCT FROM y.{c}"
        else:
            cond = (
                f"(x.{c} IS NULL) <> (y.{c} IS NULL) OR "
                f"abs(CAST(x.{c} AS DOUBLE) - CAST(y.{c} AS DOUBLE)) > {rel_tol} * greatest(1, abs(CAST(x.{c} AS DOUBLE)))"
            )
        bad = con.execute(
            f"SELECT count(*) FROM {a} x JOIN {b} y USING (account_id) WHERE {cond}"
        ).fetchone()[0]
        if bad:
            differ.append(f"{c}:{bad}")
    con.close()
    missing = sorted(set(cols_a) ^ set(cols_b))
    return {
        "spark_rows": int(n_a),
        "duckdb_rows": int(n_b),
        "matched_rows": int(matched),
        "differing_columns": differ,
        "columns_only_one_side": missing,
        "agree": n_a == n_b == matched and not differ and not missing,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="DuckDB peer aggregation over a list of Parquet files")
    parser.add_argument("--files-from", required=True, help="text file: one Parquet path a line")
    parser.add_argument("--out", required=True, help="output Parquet file")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--newest-model", default=None)
    parser.add_argument("--memory-limit", default="6GB", help="same as the Spark driver's heap by default")
    parser.add_argument("--result", required=True, help="JSON file to write the timings to")
    args = parser.parse_args(argv)
    files = [line.strip() for line in Path(args.files_from).read_text().splitlines() if line.strip()]
    if not files:
        sys.stderr.write("peer_duckdb: no input files\n")
        return 2
    result = run_duckdb(files, args.out, args.threads, args.newest_model, args.memory_limit)
    Path(args.result).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
