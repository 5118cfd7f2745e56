"""Hub stress: rewrite a simulated day so that many accounts share one proxy /24 and one
payment instrument.

``python -m bench.hub --world W --out H --date D --accounts 20000`` copies W's landing to
H's landing and, for ``--accounts`` accounts active on D (the first by ``xxhash64`` of their
id, so the choice is deterministic), sets every exchange's ``client_ip`` to an address in
198.51.100.0/24 and the account snapshot's ``payment_fp`` to one value. Everything else
(the other accounts, the dimensions, broken records) is byte-for-byte the original, so
the hub day and the plain day differ only by the hub. Records are rewritten as text
(regular expressions on the JSON line), so malformed lines stay malformed.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

log = logging.getLogger(__name__)

HUB_PREFIX = "198.51.100"
HUB_PAYMENT_FP = "pf-bench-hub"


def _rename_parts(folder: Path) -> None:
    """Spark's text writer names files ``part-*.txt.gz``; the landing contract wants ``*.jsonl.gz``."""
    for p in folder.glob("part-*.txt.gz"):
        p.rename(p.with_name(p.name[: -len(".txt.gz")] + ".jsonl.gz"))
    for p in folder.glob("*.crc"):
        p.unlink()
    for p in folder.glob(".*.crc"):
        p.unlink()


def build_hub_landing(spark, world: Path, out: Path, day: str, n_accounts: int) -> int:  # type: ignore[no-untyped-def]
    """Write ``out/landing`` from ``world/landing``; returns how many accounts were put in the hub."""
    from pyspark.sql import functions as F

    src, dst = world / "landing", out / "landing"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for folder in src.iterdir():
        if folder.name not in ("exchanges", "accounts"):
            shutil.copytree(folder, dst / folder.name)
    ex_src = src / "exchanges" / f"date={day}"
    acc_src = src / "accounts" / f"date={day}"
    lines = spark.read.text(str(ex_src))
    acc_id = F.get_json_object("value", "$.account_id")
    hub = (
        lines.select(acc_id.alias("account_id"))
        .where(F.col("account_id").isNotNull())
        .distinct()
        .orderBy(F.xxhash64("account_id"), "account_id")
        .limit(n_accounts)
        .withColumn("_hub", F.lit(True))
        .localCheckpoint(eager=True)
    )
    chosen = hub.count()
    n_files = max(1, len([p for p in ex_src.glob("*.jsonl*") if not p.name.startswith(".")]))
    host = F.concat(
        F.lit(HUB_PREFIX + "."), (F.pmod(F.xxhash64("account_id"), F.lit(254)) + 1).cast("string")
    )
    ex = (
        lines.withColumn("account_id", acc_id)
        .join(F.broadcast(hub), "account_id", "left")
        .select(
            F.when(
                F.col("_hub"),
                F.regexp_replace(
                    "value", r'"client_ip":"[^"]*"', F.concat(F.lit('"client_ip":"'), host, F.lit('"'))
                ),
            )
            .otherwise(F.col("value"))
            .alias("value")
        )
    )
    ex_dst = dst / "exchanges" / f"date={day}"
    ex.repartition(n_files).write.mode("overwrite").option("compression", "gzip").text(str(ex_dst))
    _rename_parts(ex_dst)

    acc = spark.read.text(str(acc_src)).withColumn("account_id", F.get_json_object("value", "$.account_id"))
    pay = f'"payment_fp":"{HUB_PAYMENT_FP}"'
    acc = acc.join(F.broadcast(hub), "account_id", "left").select(
        F.when(
            F.col("_hub") & F.col("value").contains('"payment_fp":'),
            F.regexp_replace("value", r'"payment_fp":(null|"[^"]*")', F.lit(pay)),
        )
        .when(F.col("_hub"), F.regexp_replace("value", r"^\{", F.lit("{" + pay + ",")))
        .otherwise(F.col("value"))
        .alias("value")
    )
    acc_dst = dst / "accounts" / f"date={day}"
    acc.repartition(1).write.mode("overwrite").option("compression", "gzip").text(str(acc_dst))
    _rename_parts(acc_dst)
    for marker in dst.rglob("_SUCCESS"):
        marker.unlink()
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build the hub-stress variant of a simulated day")
    parser.add_argument("--world", required=True, help="simulated world folder (holds landing/)")
    parser.add_argument("--out", required=True, help="hub world folder to write (landing/ under it)")
    parser.add_argument("--date", required=True)
    parser.add_argument("--accounts", type=int, default=20_000)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )

    from distillwatch.config import load_config
    from distillwatch.console import emit
    from distillwatch.spark import build_spark

    out = Path(args.out).resolve()
    spark = build_spark(load_config("local"), str(out / "_scratch"))
    n = build_hub_landing(spark, Path(args.world).resolve(), out, args.date, args.accounts)
    spark.stop()
    shutil.rmtree(out / "_scratch", ignore_errors=True)
    (out / "hub.json").write_text(
        f'{{"hub_accounts": {n}, "prefix": "{HUB_PREFIX}.0/24", "payment_fp": "{HUB_PAYMENT_FP}"}}\n'
    )
    emit(f"hub world {out}: {n} accounts behind {HUB_PREFIX}.0/24 with payment_fp {HUB_PAYMENT_FP}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
