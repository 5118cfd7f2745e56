"""IP validity, version and prefix on hand-written addresses."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from distillwatch.pipelines.ip import ip_prefix, ip_version, is_valid_ip

CASES = [
    # (address, version, prefix)
    ("192.168.1.77", 4, "192.168.1.0/24"),
    (" 10.0.255.1 ", 4, "10.0.255.0/24"),
    ("010.001.002.003", 4, "10.1.2.0/24"),
    ("255.255.255.255", 4, "255.255.255.0/24"),
    ("2001:db8::1", 6, "2001:db8:0::/48"),
    ("2001:0DB8:00a0:1234::", 6, "2001:db8:a0::/48"),
    ("::1", 6, "0:0:0::/48"),
    ("::", 6, "0:0:0::/48"),
    ("fe80::1%eth0", 6, "fe80:0:0::/48"),
    ("2001:db8:1:2:3:4:5:6", 6, "2001:db8:1::/48"),
    ("2001::3:4:5:6:7:8", 6, "2001:0:3::/48"),
    ("::ffff:1.2.3.4", 6, "0:0:0::/48"),
    ("64:ff9b:1::1.2.3.4", 6, "64:ff9b:1::/48"),
    ("256.1.1.1", None, None),
    ("1.2.3", None, None),
    ("1.2.3.4.5", None, None),
    ("a.b.c.d", None, None),
    ("", None, None),
    (None, None, None),
    ("2001:db8::1::2", None, None),
    ("2001:db8:1:2:3:4:5", None, None),
    ("2001:db8:1:2:3:4:5:6:7", None, None),
    ("1:2:3:4:5:6:7::8", None, None),
    ("12345::1", None, None),
    ("2001:dg8::1", None, None),
    (":1:2:3:4:5:6:7", None, None),
    ("1:2:3:4:5:6:7:", None, None),
    ("1.2.3.4::", None, None),
    ("::1.2.3.256", None, None),
    ("1:::2", None, None),
    ("localhost", None, None),
]


@pytest.fixture(scope="module")
def parsed(spark):  # type: ignore[no-untyped-def]
    df = spark.createDataFrame([(c[0],) for c in CASES], "ip string")
    out = df.select(
        "ip",
        ip_version(F.col("ip")).alias("v"),
        ip_prefix(F.col("ip")).alias("p"),
        is_valid_ip(F.col("ip")).alias("ok"),
    )
    return {r["ip"]: r for r in out.collect()}


@pytest.mark.parametrize(("ip", "version", "prefix"), CASES)
def test_ip_version_and_prefix(parsed, ip, version, prefix) -> None:  # type: ignore[no-untyped-def]
    row = parsed[ip]
    assert (row["v"], row["p"], row["ok"]) == (version, prefix, version is not None)


def test_output_types(spark) -> None:  # type: ignore[no-untyped-def]
    df = spark.createDataFrame([("1.2.3.4",)], "ip string").select(
        ip_version(F.col("ip")).alias("v"),
        ip_prefix(F.col("ip")).alias("p"),
        is_valid_ip(F.col("ip")).alias("ok"),
    )
    assert [f.dataType.simpleString() for f in df.schema.fields] == ["int", "string", "boolean"]
    assert df.first()["ok"] is True
