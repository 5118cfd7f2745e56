"""Prompts of real public texts for ``simulate --prompts real``.

The corpus texts (``corpora.load_corpora``) are grouped into *pools*
(``conf/simulate/real_prompts.yaml``), ranked once per seed, and held in one small
DataFrame that every population joins by broadcast on a text id (``_cid``) picked from
hashes of the exchange. A *family* says how a kind of traffic turns a text into a prompt:
which pools, Zipf-like popularity (legitimate users: the same popular texts recur across
unrelated accounts) or uniform (a harness or harvester sweeping a benchmark), personal
variation, or instruction wrappers. Legitimate users and campaigns draw on the same pools;
only the wrappers differ. No Python runs per row.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from distillwatch.config import repo_conf_dir
from distillwatch.simulate.corpora import CorpusItem, load_conf, load_corpora
from distillwatch.simulate.prompts import pick

_CORPUS_SCHEMA = StructType(
    [
        StructField("cid", LongType(), False),
        StructField("text", StringType(), False),
        StructField("lang", StringType(), False),
        StructField("answer", StringType(), True),
    ]
)
_ZH = "zh: "


class Hasher(Protocol):
    """The world's per-population hash helper (``world._H``)."""

    def h(self, salt: str) -> Column: ...

    def u(self, salt: str) -> Column: ...


@dataclass(frozen=True)
class Pool:
    name: str
    offset: int
    size: int


@dataclass(frozen=True)
class Family:
    name: str
    pools: tuple[tuple[str, int], ...]
    popularity: str
    vary: bool = False
    wrappers: tuple[str, ...] = ()
    zh_wrappers: tuple[str, ...] = ()
    by_account: bool = False
    fill: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class RealText:
    """Pools of ranked texts and the families that use them (all small, on the driver)."""

    seed: int
    rows: tuple[tuple[int, str, str, str | None], ...]
    pools: dict[str, Pool]
    families: dict[str, Family]
    prefixes: dict[str, tuple[str, ...]]
    suffixes: dict[str, tuple[str, ...]]
    judge_alternatives: tuple[str, ...]
    packages: dict[str, str]
    """package name -> pinned version of every wheel whose texts are used."""

    def family(self, name: str) -> Family:
        if name not in self.families:
            raise KeyError(f"unknown real-text family {name!r}; known: {sorted(self.families)}")
        return self.families[name]

    def corpus(self, spark: SparkSession) -> DataFrame:
        """One row per (pool, rank): ``cid``, ``text``, ``lang``, ``answer``."""
        return _corpus_df(spark, self)

    # -- expressions -------------------------------------------------------------------------
    def _cid(self, pools: Sequence[tuple[str, int]], popularity: str, hh: Hasher, salt: str) -> Column:
        """The id of one text of ``pools`` (a pool by weight, then a rank in it)."""
        total = sum(w for _, w in pools)
        u = hh.u(f"{salt}:pool")
        picks: list[tuple[float, Column]] = []
        acc = 0
        for name, w in pools:
            pool = self.pools[name]
            if popularity == "zipf":
                # log-uniform rank: P(r) ~ ln((r+2)/(r+1)) ~ 1/(r+1), Zipf with s = 1
                rank = F.floor(F.exp(hh.u(f"{salt}:rank") * math.log(pool.size + 1))) - 1
                rank = F.least(F.greatest(rank, F.lit(0)), F.lit(pool.size - 1))
            else:
                rank = F.pmod(hh.h(f"{salt}:rank"), F.lit(pool.size))
            acc += w
            picks.append((acc / total, F.lit(pool.offset) + rank))
        out = picks[-1][1]
        for threshold, cid in reversed(picks[:-1]):
            out = F.when(u < threshold, cid).otherwise(out)
        return out.cast("long")

    def _by_lang(self, table: dict[str, tuple[str, ...]], lang: Column, h: Column) -> Column:
        out = pick(table["en"], h)
        for code, values in table.items():
            if code != "en":
                out = F.when(lang == code, pick(values, h)).otherwise(out)
        return out

    def _render(self, fam: Family, hh: Hasher, account: Column | None) -> Column:
        text, lang, answer = F.col("_t"), F.col("_tl"), F.coalesce(F.col("_ta"), F.lit(""))
        if fam.fill:
            alt = pick(self.judge_alternatives, hh.h(f"{fam.name}:alt"))
            out = F.replace(text, F.lit("{output_2}"), alt)
            out = F.replace(out, F.lit("{output_1}"), F.coalesce(F.col("_fa"), F.lit("")))
            return F.replace(out, F.lit("{instruction}"), F.col("_f"))
        if fam.wrappers or fam.zh_wrappers:
            everyone = fam.wrappers + fam.zh_wrappers
            if fam.by_account and account is not None:
                wrapper = F.element_at(
                    F.array(*[F.lit(w) for w in everyone]),
                    (F.pmod(account, F.lit(len(everyone))) + 1).cast("int"),
                )
            else:
                h = hh.h(f"{fam.name}:wrap")
                wrapper = pick(everyone, h)
                if fam.zh_wrappers:
                    wrapper = F.when(lang == "zh", pick(fam.zh_wrappers, h)).otherwise(wrapper)
            out = F.replace(wrapper, F.lit("{ANSWER}"), answer)
            return F.replace(out, F.lit("{TEXT}"), text)
        if fam.vary:
            v = hh.u(f"{fam.name}:vary")
            pre = self._by_lang(self.prefixes, lang, hh.h(f"{fam.name}:pre"))
            suf = self._by_lang(self.suffixes, lang, hh.h(f"{fam.name}:suf"))
            return (
                F.when(v < 0.5, text)
                .when(v < 0.75, F.concat(pre, text))
                .when(v < 0.9, F.concat(text, suf))
                .otherwise(F.concat(pre, text, suf))
            )
        return text

    def prompts(
        self,
        base: DataFrame,
        choices: Sequence[tuple[Column | None, str]],
        hh: Hasher,
        account: Column | None = None,
    ) -> tuple[DataFrame, Column]:
        """``base`` with the chosen texts joined in, and the prompt column.

        ``choices`` are ``(condition, family)`` pairs tried in order (the last one's
        condition is ignored: it takes every other row); ``account`` is the account index
        that ``by_account`` families pick their wrapper by.
        """
        fams = [(cond, self.family(name)) for cond, name in choices]

        def chain(values: list[Column]) -> Column:
            out = values[-1]
            for (cond, _), value in zip(reversed(fams[:-1]), reversed(values[:-1]), strict=True):
                assert cond is not None
                out = F.when(cond, value).otherwise(out)
            return out

        cid = chain([self._cid(f.pools, f.popularity, hh, f.name) for _, f in fams])
        corpus = F.broadcast(self.corpus(base.sparkSession))
        out = base.select("*", cid.alias("_cid")).join(
            corpus.select(
                F.col("cid").alias("_cid"),
                F.col("text").alias("_t"),
                F.col("lang").alias("_tl"),
                F.col("answer").alias("_ta"),
            ),
            "_cid",
        )
        if any(f.fill for _, f in fams):
            fill = chain([self._cid(f.fill or f.pools, "uniform", hh, f"{f.name}:fill") for _, f in fams])
            out = out.select("*", fill.alias("_fcid")).join(
                corpus.select(
                    F.col("cid").alias("_fcid"), F.col("text").alias("_f"), F.col("answer").alias("_fa")
                ),
                "_fcid",
            )
        return out, chain([self._render(f, hh, account) for _, f in fams])


_CORPUS_DF: dict[tuple[int, int], tuple[RealText, DataFrame]] = {}


def _corpus_df(spark: SparkSession, real: RealText) -> DataFrame:
    """The corpus DataFrame, built once per session and plan (its rows travel once)."""
    key = (id(spark), id(real))
    if key not in _CORPUS_DF:
        _CORPUS_DF[key] = (real, spark.createDataFrame(list(real.rows), _CORPUS_SCHEMA))
    return _CORPUS_DF[key][1]


def _rank_key(seed: int, item: CorpusItem) -> str:
    return hashlib.sha256(f"{seed}|{item.source}|{item.item_id}".encode()).hexdigest()


def _families(raw: dict[str, Any], pools: dict[str, Pool]) -> dict[str, Family]:
    out: dict[str, Family] = {}
    for name, f in raw.items():
        unknown = set(f) - {"pools", "popularity", "vary", "wrappers", "by_account", "fill"}
        if unknown:
            raise ValueError(f"real-text family {name}: unknown keys {sorted(unknown)}")
        weights = tuple((p, int(w)) for p, w in f["pools"].items())
        fill = tuple((p, int(w)) for p, w in ((f.get("fill") or {}).get("pools") or {}).items())
        for p, _ in weights + fill:
            if p not in pools:
                raise ValueError(f"real-text family {name}: unknown pool {p!r}")
        if f["popularity"] not in ("zipf", "uniform"):
            raise ValueError(f"real-text family {name}: popularity must be zipf or uniform")
        wrappers = [str(w) for w in f.get("wrappers") or []]
        out[name] = Family(
            name,
            weights,
            f["popularity"],
            bool(f.get("vary", False)),
            tuple(w for w in wrappers if not w.startswith(_ZH)),
            tuple(w[len(_ZH) :] for w in wrappers if w.startswith(_ZH)),
            bool(f.get("by_account", False)),
            fill,
        )
    return out


@lru_cache(maxsize=4)
def plan_real(seed: int, cache_dir: str | None = None, path: str | None = None) -> RealText:
    """Load the corpora and fix the pools' texts and ranks for ``seed``."""
    file = Path(path) if path else repo_conf_dir() / "simulate" / "real_prompts.yaml"
    raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    max_chars = int(raw["max_chars"])
    wanted = sorted({s for p in raw["pools"].values() for s in p["sources"]})
    corpora = load_corpora(cache_dir, wanted)
    rows: list[tuple[int, str, str, str | None]] = []
    pools: dict[str, Pool] = {}
    for name, p in raw["pools"].items():
        head = set(p.get("head") or [])
        topics = p.get("topics")
        items = [
            i
            for s in p["sources"]
            for i in corpora[s]
            if len(i.text) <= max_chars
            and (not topics or (i.topic is not None and any(fnmatch.fnmatchcase(i.topic, t) for t in topics)))
        ]
        if not items:
            raise ValueError(f"{file}: pool {name} has no texts")
        items.sort(key=lambda i: (i.source not in head, _rank_key(seed, i)))
        pools[name] = Pool(name, len(rows), len(items))
        rows += [(len(rows) + r, i.text, i.lang, i.answer) for r, i in enumerate(items)]
    conf = load_conf()
    packages = {conf.sources[s].package for s in wanted}
    return RealText(
        seed,
        tuple(rows),
        pools,
        _families(raw["families"], pools),
        {k: tuple(v) for k, v in raw["prefixes"].items()},
        {k: tuple(v) for k, v in raw["suffixes"].items()},
        tuple(raw["judge_alternatives"]),
        {name: conf.packages[name].version for name in sorted(packages)},
    )
