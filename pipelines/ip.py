"""Client IP parsing as Spark column expressions: validity, version and network prefix.

IP intelligence is keyed by network prefix (``a.b.c.0/24`` for IPv4, ``x:x:x::/48`` for
IPv6), because fraud infrastructure rotates addresses inside one allocation. Everything
here is built from Spark built-ins (regexes, ``split``, one-level ``forall``) so it runs at
gateway-log scale without Python UDFs.

IPv6 prefixes are written in one canonical form: the first three 16-bit groups in
lowercase hex without leading zeros, ``::`` compression expanded (``2001:db8::1`` ->
``2001:db8:0::/48``). A zone suffix (``fe80::1%eth0``) is ignored; an embedded IPv4 tail
(``::ffff:1.2.3.4``) counts as two groups.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

_V4_RE = r"^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$"
_HEX_GROUP_RE = r"^[0-9a-f]{1,4}$"
# Hex groups and colons only, or the same followed by one dotted-quad tail.
_V6_CHARS_RE = r"^[0-9a-f:]+$|^[0-9a-f:]*:[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$"


def _clean(col: Column) -> Column:
    """Trimmed, lowercased address without an IPv6 zone suffix."""
    return F.regexp_replace(F.lower(F.trim(col)), "%.*$", "")


def _octets(s: Column) -> list[Column]:
    return [F.regexp_extract(s, _V4_RE, i).try_cast("int") for i in range(1, 5)]


def _v4_valid(s: Column) -> Column:
    ok = s.rlike(_V4_RE)
    for o in _octets(s):
        ok = ok & (o <= 255)
    return F.coalesce(ok, F.lit(False))


def _groups(part: Column) -> Column:
    """``"a:b"`` -> ``["a", "b"]``; the empty side of a ``::`` -> ``[]``."""
    return F.when(part == "", F.array().cast("array<string>")).otherwise(F.split(part, ":"))


class _V6:
    """The pieces of an IPv6 parse, shared by validity and prefix."""

    def __init__(self, col: Column) -> None:
        s = _clean(col)
        self.s = s
        self.has_dc = s.contains("::")
        head = F.when(self.has_dc, F.substring_index(s, "::", 1)).otherwise(s)
        tail = F.when(self.has_dc, F.substring_index(s, "::", -1)).otherwise(F.lit(""))
        self.head_g = _groups(head)
        self.tail_g = _groups(tail)
        explicit = F.concat(self.head_g, self.tail_g)
        last = F.get(explicit, F.size(explicit) - 1)
        self.last_is_v4 = F.coalesce(last.contains("."), F.lit(False))
        # an embedded IPv4 tail stands for two 16-bit groups
        self.n_groups = F.size(explicit) + F.when(self.last_is_v4, 1).otherwise(0)
        all_but_last = F.slice(explicit, 1, F.greatest(F.size(explicit) - 1, F.lit(0)))
        groups_ok = (F.size(explicit) == 0) | (
            F.forall(all_but_last, lambda g: g.rlike(_HEX_GROUP_RE))
            & (last.rlike(_HEX_GROUP_RE) | (self.last_is_v4 & _v4_valid(last)))
        )
        self.valid = F.coalesce(
            s.contains(":")
            & s.rlike(_V6_CHARS_RE)
            & ~s.contains(":::")
            & (F.size(F.split(s, "::")) <= 2)
            & F.when(self.has_dc, self.n_groups <= 7).otherwise(self.n_groups == 8)
            & groups_ok,
            F.lit(False),
        )

    def first_three(self) -> list[Column]:
        zeros = F.array_repeat(F.lit("0"), F.greatest(F.lit(8) - self.n_groups, F.lit(0)))
        full = F.when(self.has_dc, F.concat(self.head_g, zeros, self.tail_g)).otherwise(self.head_g)
        return [F.regexp_replace(F.get(full, i), "^0+(?=.)", "") for i in range(3)]


def ip_version(col: Column) -> Column:
    """4 or 6 for a well-formed address, null otherwise (int)."""
    s = _clean(col)
    v6 = _V6(col)
    return F.when(_v4_valid(s), F.lit(4)).when(v6.valid, F.lit(6)).cast("int")


def is_valid_ip(col: Column) -> Column:
    """True for a well-formed IPv4 or IPv6 address; false (never null) otherwise."""
    return ip_version(col).isNotNull()


def ip_prefix(col: Column) -> Column:
    """The address's network prefix: ``a.b.c.0/24`` (IPv4) or ``x:x:x::/48`` (IPv6); null if unparseable."""
    s = _clean(col)
    o = _octets(s)
    v4 = F.concat_ws(".", o[0].cast("string"), o[1].cast("string"), o[2].cast("string"), F.lit("0/24"))
    v6 = _V6(col)
    g = v6.first_three()
    v6_prefix = F.concat(g[0], F.lit(":"), g[1], F.lit(":"), g[2], F.lit("::/48"))
    return F.when(_v4_valid(s), v4).when(v6.valid, v6_prefix)
