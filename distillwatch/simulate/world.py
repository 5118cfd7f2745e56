"""The synthetic world as DataFrames: exchanges, accounts, intel, labels and ground truth.

Everything is a pure function of (seed, start, days, scale). Exchanges come from
``spark.range`` per population; every random choice is ``xxhash64(seed, population, id,
salt)``, so the records do not depend on partitioning and the same seed gives the same
records at any parallelism. Account attributes are functions of (population, account
index), so exchanges never join the account table. Rows scale linearly with ``scale``
(100M+ exchanges a day is just a larger ``spark.range``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from distillwatch.contract import EXCHANGE_FIELDS
from distillwatch.simulate import populations as P
from distillwatch.simulate.evasion import PLAIN, TEXT_EVASIONS, Evasion
from distillwatch.simulate.network import NetworkPlan, address_expr, ip_intel, network_attr, prefix_expr
from distillwatch.simulate.prompts import PromptBank, literal_array, load_bank, pick, render
from distillwatch.simulate.realtext import RealText, plan_real

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
OLD_MODEL, MINI_MODEL, NEW_MODEL = "orion-4", "orion-4-mini", "orion-4.5"
PROMPT_MODES = ("templates", "real")
PRIOR_RELEASES = (
    ("orion-3.5", "2025-06-10T17:00:00.000Z"),
    (OLD_MODEL, "2025-10-01T17:00:00.000Z"),
    (MINI_MODEL, "2025-12-02T17:00:00.000Z"),
)

# Local-time hourly activity weights.
DIURNAL = (2, 1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 8, 9, 9, 9, 8, 8, 8, 9, 10, 9, 7, 4)
OFFICE = (0, 0, 0, 0, 0, 0, 1, 3, 9, 10, 10, 9, 7, 9, 10, 10, 9, 6, 3, 1, 1, 0, 0, 0)
FLAT = (1,) * 24

BROWSER_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
)
BROWSER_TLS = (
    "t13d1516h2_8daaf6152771_02713d6af862",
    "t13d1715h2_5b57614c22b0_3d5424432f57",
    "t13d1516h2_8daaf6152771_e5627efa2ab1",
)
SDK_PY_UA, SDK_NODE_UA = "orion-python/1.42.0", "orion-node/4.2.0"
AGENT_SDK_UA = "orion-agent-sdk/0.9.3 (python)"
SDK_TLS = ("t13d1312h2_e8f1e7e78f70_b26ce05bbdd6", "t13d1211h2_c7a8a1b0a1e2_9f0d3a1c2b77")
B_UA = "agentkit/2.3 (+https://agentkit.example)"
C_UA = "python-httpx/0.27.0"
C_TLS = "t13d0912h1_4c1f0aa3e1d7_deadbeef0c0c"
D_TLS = "t13d1010h2_77aa6b2c0e91_1e1e1e1e1e1e"


@dataclass(frozen=True)
class WorldPlan:
    """Everything fixed on the driver before generation (all small)."""

    seed: int
    start: dt.date
    days: int
    scale: float
    census: P.Census
    net: NetworkPlan
    bank: PromptBank
    release_day: int
    real: RealText | None = None
    """Real public texts (``--prompts real``); None: the template banks."""
    evasion: Evasion = PLAIN
    """The campaigns' evasion switches (``distillwatch.simulate.evasion``); none: the plain world."""

    @property
    def prompts(self) -> str:
        return "real" if self.real is not None else "templates"

    @property
    def start_ms(self) -> int:
        return int(dt.datetime.combine(self.start, dt.time(), dt.timezone.utc).timestamp() * 1000)

    @property
    def release_ms(self) -> int:
        return self.start_ms + self.release_day * DAY_MS + 16 * HOUR_MS

    @property
    def release_ts(self) -> str:
        return _iso_ms(self.release_ms)

    def world_json(self) -> str:
        """The small ``truth/world.json`` summary."""
        body = {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "scale": self.scale,
            "new_model": NEW_MODEL,
            "new_model_released_at": self.release_ts,
            "actors": {
                a: {
                    "campaign": c,
                    "population": f"campaign_{k.lower()}",
                    "accounts": self.census.accounts[f"campaign_{k.lower()}"],
                    "daily_campaign_exchanges": self.census.volumes[f"campaign_{k.lower()}"],
                    "threat_intel": k != "D",
                    "labels": k != "D",
                }
                for k, (a, c) in P.ACTORS.items()
            },
            "accounts": self.census.accounts,
            "daily_volumes": self.census.volumes,
            "prompts": self.prompts,
        }
        if self.real is not None:
            body["corpora"] = self.real.packages
        if self.evasion.switches:
            body["evasion"] = self.evasion.summary()
        return json.dumps(body, indent=2, sort_keys=True)


def _iso_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def plan_world(
    start: str,
    days: int,
    scale: float,
    seed: int,
    bank: PromptBank | None = None,
    prompts: str = "templates",
    corpus_cache: str | None = None,
    evasion: Evasion = PLAIN,
) -> WorldPlan:
    """Validate parameters and fix counts, networks and the new model's release time.

    ``prompts`` is ``templates`` (the prompt banks of ``conf/simulate/prompts.yaml``) or
    ``real`` (public texts of ``conf/simulate/corpora.yaml``, fetched into
    ``corpus_cache``); everything but the prompt text is the same in both. ``evasion``:
    the campaigns' switches (``slow`` and ``mix`` change the census here).
    """
    if prompts not in PROMPT_MODES:
        raise ValueError(f"prompts must be one of {PROMPT_MODES}, got {prompts!r}")
    if days < 2:
        raise ValueError(f"days must be >= 2 (a model is released mid-window), got {days}")
    text_switches = sorted(TEXT_EVASIONS & evasion.switches)
    if prompts == "real" and text_switches:
        raise ValueError(
            f"evasion {text_switches} rewrites template prompts: it does not combine with prompts real"
        )
    c = _evasive_census(P.census(scale), evasion)
    release_day = min(days - 1, max(1, round(days * 10 / 14)))
    return WorldPlan(
        seed,
        dt.date.fromisoformat(start),
        days,
        scale,
        c,
        P.build_networks(c, scale),
        bank or load_bank(),
        release_day,
        plan_real(seed, corpus_cache) if prompts == "real" else None,
        evasion,
    )


CAMPAIGN_POPULATIONS = ("campaign_a", "campaign_b", "campaign_c", "campaign_d")


def _evasive_census(c: P.Census, evasion: Evasion) -> P.Census:
    """``slow``: campaign accounts times ``slow_factor``; ``mix``: the hydra's volume split
    at ``resold_share`` (its total unchanged). Other populations are untouched."""
    accounts, volumes = dict(c.accounts), dict(c.volumes)
    if "slow" in evasion:
        for pop in CAMPAIGN_POPULATIONS:
            accounts[pop] *= evasion.slow_factor
    if "mix" in evasion:
        total = volumes["campaign_c"] + volumes["hydra_resold"]
        resold = min(total - 1, max(1, round(total * evasion.resold_share)))
        volumes["hydra_resold"], volumes["campaign_c"] = resold, total - resold
    return P.Census(accounts, volumes)


# -- hashing helpers ----------------------------------------------------------------------
class _H:
    """Deterministic pseudo-random columns for one population's rows."""

    def __init__(self, seed: int, pop: str, key: Sequence[Column]) -> None:
        self.seed, self.pop, self.key = seed, pop, list(key)

    def h(self, salt: str) -> Column:
        return F.xxhash64(F.lit(self.seed), F.lit(self.pop), *self.key, F.lit(salt))

    def u(self, salt: str) -> Column:
        """Uniform double in [0, 1)."""
        return F.pmod(self.h(salt), F.lit(1 << 30)) / float(1 << 30)

    def int(self, salt: str, lo: int, hi: int) -> Column:
        """Uniform integer in [lo, hi]."""
        return (F.pmod(self.h(salt), F.lit(hi - lo + 1)) + lo).cast("long")


def _hex16(h: Column) -> Column:
    return F.lpad(F.lower(F.hex(h)), 16, "0")


def _acct_hash(seed: int, pop: str, k: Column, salt: str) -> Column:
    return F.xxhash64(F.lit(seed), F.lit(pop), k, F.lit(salt))


def _hour_table(weights: Sequence[int]) -> list[int]:
    return [h for h, w in enumerate(weights) for _ in range(w)]


def _hour(hh: _H, weights: Sequence[int], tz: Column | int = 0) -> Column:
    """UTC hour of an activity drawn from local-time ``weights`` at UTC offset ``tz``."""
    table = _hour_table(weights)
    local = F.element_at(literal_array(table), (F.pmod(hh.h("hour"), F.lit(len(table))) + 1).cast("int"))
    return F.pmod(local - tz, F.lit(24))


def _country(k: Column) -> Column:
    """Country index of individual account ``k``."""
    return F.element_at(
        literal_array(P.COUNTRY_TABLE),
        (F.pmod(k, F.lit(len(P.COUNTRY_TABLE))) + 1).cast("int"),
    )


def _country_attr(idx: Column, pos: int) -> Column:
    return F.element_at(literal_array([c[pos] for c in P.COUNTRIES]), (idx + 1).cast("int"))


# -- accounts -------------------------------------------------------------------------------
def _account_id(seed: int, pop: str, k: Column) -> Column:
    return F.concat(F.lit("acct_"), _hex16(_acct_hash(seed, pop, k, "account")))


def _payment_fp(seed: int, *parts: Column | str) -> Column:
    cols = [p if isinstance(p, Column) else F.lit(p) for p in parts]
    return F.concat(F.lit("pm_"), _hex16(F.xxhash64(F.lit(seed), F.lit("payment"), *cols)))


def _account_columns(plan: WorldPlan, pop: str, k: Column) -> dict[str, Column]:
    """The registry attributes of account ``k`` of population ``pop`` (no randomness per day)."""
    s = plan.seed

    def ah(salt: str) -> Column:
        return _acct_hash(s, pop, k, salt)

    def fp(*parts: Column | str) -> Column:
        return _payment_fp(s, *parts)

    own_org = F.concat(F.lit("org_"), _hex16(ah("org")))
    own_fp = fp(F.lit(pop), k)
    cc = _country_attr(_country(k), 0)
    free = pick(P.FREE_MAIL, ah("mail"))
    age = (1, 900)
    verified = F.pmod(ah("verified"), F.lit(10)) < 8
    if pop == "individual":
        mails = F.element_at(
            F.array(*[F.array(*[F.lit(m) for m in c[4]]) for c in P.COUNTRIES]), (_country(k) + 1).cast("int")
        )
        cols = dict(
            org=own_org,
            cc=cc,
            path=F.lit("self_serve"),
            fp=own_fp,
            mail=F.element_at(mails, (F.pmod(ah("mail"), F.lit(3)) + 1).cast("int")),
        )
    elif pop == "saas":
        cols = dict(
            org=own_org,
            cc=pick(("US", "DE", "SG"), k),
            path=pick(("cloud_partner", "self_serve"), k),
            fp=own_fp,
            mail=pick(P.SAAS_DOMAINS, k),
        )
        verified = F.lit(True)
    elif pop == "enterprise":
        org = F.floor(k / P.ACCOUNTS_PER_ORG)
        cols = dict(
            org=F.concat(F.lit("org_"), _hex16(F.xxhash64(F.lit(s), F.lit("ent-org"), org))),
            cc=network_attr(plan.net, "country", F.lit(plan.net.id("corp-0")) + org),
            path=F.lit("enterprise"),
            fp=fp("enterprise", org),
            mail=F.concat(pick(P.ENTERPRISE_NAMES, org), F.lit("-"), org.cast("string"), F.lit(".com")),
        )
        verified = F.lit(True)
    elif pop == "eval_lab":
        cols = dict(
            org=own_org, cc=F.lit("US"), path=F.lit("security_research"), fp=own_fp, mail=pick(P.EVAL_LABS, k)
        )
        verified = F.lit(True)
    elif pop == "student":
        uni = F.pmod(k, F.lit(plan.census.n_universities))
        cols = dict(
            org=own_org,
            cc=F.lit("US"),
            path=F.lit("education"),
            fp=own_fp,
            mail=F.concat(pick(P.UNIVERSITIES, uni), uni.cast("string"), F.lit(".edu")),
        )
    elif pop == "agent_dev":
        cols = dict(
            org=own_org,
            cc=cc,
            path=pick(("self_serve", "startup_program"), ah("path")),
            fp=own_fp,
            mail=F.when(
                F.pmod(ah("own"), F.lit(3)) == 0, F.concat(F.lit("dev"), k.cast("string"), F.lit(".dev"))
            ).otherwise(free),
        )
    elif pop == "campaign_a":
        n_inst = 2 + int(plan.census.accounts[pop] >= 20)
        cols = dict(
            org=own_org,
            cc=pick(("US", "SG", "GB", "CA"), ah("cc")),
            path=F.lit("self_serve"),
            fp=fp("A-instrument", F.pmod(k, F.lit(n_inst))),
            mail=pick(("gmail.com", "outlook.com", "qq.com", "163.com"), ah("mail")),
        )
        age = (10, 60)
    elif pop == "campaign_b":
        path = pick(("self_serve", "education", "startup_program", "cloud_partner", "self_serve"), ah("path"))
        mail = F.when(
            path == "education", F.concat(pick(P.UNIVERSITIES, ah("uni")), F.lit("-alumni.edu"))
        ).otherwise(pick(P.THROWAWAY_B + ("gmail.com", "outlook.com", "proton.me"), ah("mail")))
        cols = dict(
            org=own_org,
            cc=pick(("US", "GB", "SG", "MY", "AE"), ah("cc")),
            path=path,
            fp=fp("B-card", F.floor(k / 5)),
            mail=mail,
        )
        age = (5, 40)
    elif pop == "campaign_c":
        cols = dict(
            org=own_org,
            cc=pick(("US", "HK", "SG", "VN", "BR", "TR"), ah("cc")),
            path=F.lit("self_serve"),
            fp=fp("C-prepaid", F.floor(k / 25)),
            mail=pick(P.THROWAWAY_C + ("gmail.com", "outlook.com"), ah("mail")),
        )
        verified = F.pmod(ah("verified"), F.lit(10)) < 2
        age = (1, 30)
    elif pop == "campaign_d":
        cols = dict(
            org=own_org, cc=F.lit("SG"), path=F.lit("startup_program"), fp=own_fp, mail=pick(P.STARTUP_D, k)
        )
        verified = F.lit(True)
        age = (30, 90)
    else:
        raise ValueError(f"no account model for population {pop!r}")
    if "rotate" in plan.evasion and pop in CAMPAIGN_POPULATIONS:
        # one card of its own and a free-mail address: nothing shared, nothing the intel knows
        cols.update(fp=own_fp, mail=free)
    created = (
        F.lit(plan.start_ms)
        - (F.pmod(ah("age"), F.lit(age[1] - age[0] + 1)) + age[0]) * DAY_MS
        - F.pmod(ah("age-ms"), F.lit(DAY_MS))
    )
    return dict(
        account_id=_account_id(s, pop, k),
        org_id=cols["org"],
        created_at=F.timestamp_millis(created),
        billing_country=cols["cc"],
        signup_path=cols["path"],
        payment_fp=cols["fp"],
        email_domain=cols["mail"],
        verified=verified,
    )


def accounts(spark: SparkSession, plan: WorldPlan) -> DataFrame:
    """The account registry (one row per account) with its truth columns ``population``,
    ``actor``, ``campaign``. The landing snapshot drops the truth columns."""
    frames = []
    for pop in P.POPULATIONS:
        if pop.account_pool is not None:
            continue
        k = F.col("id")
        cols = _account_columns(plan, pop.name, k)
        frames.append(
            spark.range(plan.census.accounts[pop.name]).select(
                *[c.alias(n) for n, c in cols.items()],
                F.lit(pop.name).alias("population"),
                F.lit(pop.actor).cast("string").alias("actor"),
                F.lit(pop.campaign).cast("string").alias("campaign"),
                k.alias("_k"),
            )
        )
    return reduce(DataFrame.unionByName, frames)


# -- exchanges ------------------------------------------------------------------------------
def _mix(bank: PromptBank, *parts: tuple[str, int]) -> list[str]:
    """A weighted union of template families (weights repeat the family's templates)."""
    return [t for fam, w in parts for _ in range(w) for t in bank.family(fam)]


def _a_templates(plan: WorldPlan, intent: str) -> tuple[list[str], list[str]]:
    """GLASS-HERON's templates for ``intent`` before and from the middle of the window.

    ``paraphrase``: the paraphrase families ``para_<intent>``; ``drift``: the second half
    changes family (``a_<intent>_drift``, or the other half of the paraphrase families).
    """
    bank = plan.bank
    if "paraphrase" in plan.evasion:
        para = list(bank.family(f"para_{intent}"))
        return (para[0::2], para[1::2]) if "drift" in plan.evasion else (para, para)
    base = list(bank.family(f"a_{intent}"))
    return (base, list(bank.family(f"a_{intent}_drift"))) if "drift" in plan.evasion else (base, base)


def _population_exchanges(spark: SparkSession, plan: WorldPlan, pop: P.Population) -> DataFrame:
    """One row per exchange of one population, with contract fields and hidden helpers."""
    c, s, net = plan.census, plan.seed, plan.net
    vol = c.volumes[pop.name]
    acct_pop = pop.account_pool or pop.name
    n = c.accounts[acct_pop]
    base = spark.range(vol * plan.days).select(
        F.col("id"),
        F.floor(F.col("id") / vol).cast("int").alias("day"),
        F.pmod(F.col("id"), F.lit(vol)).alias("seq"),
    )
    hh = _H(s, pop.name, [F.col("id")])
    bank = plan.bank

    def nid(name: str) -> Column:
        return F.lit(net.id(name))

    def skewed(power: float) -> Column:
        return F.least(F.floor(F.pow(hh.u("acct"), power) * n), F.lit(n - 1)).cast("long")

    k: Column = F.pmod(hh.h("acct"), F.lit(n))
    tz: Column | int = 0
    weights: Sequence[int] = FLAT
    hour: Column | None = None
    ms_in_hour: Column = hh.int("ms", 0, HOUR_MS - 1)
    system_prompt: Column = F.lit(None).cast("string")
    ua: Column = F.lit(SDK_PY_UA)
    tls: Column = pick(SDK_TLS, hh.h("tls"))
    n_messages: Column = hh.int("msgs", 1, 6)
    n_tools: Column = F.lit(0).cast("long")
    tool_calls: Column = F.lit(0).cast("long")
    has_image: Column = hh.u("img") < 0.03
    thinking: Column = hh.u("think") < 0.15
    out_tokens: Column = hh.int("out", 40, 1200)
    model_old: Column = F.when(hh.u("mini") < 0.3, F.lit(MINI_MODEL)).otherwise(F.lit(OLD_MODEL))
    status_429 = 0.015
    key = [F.col("id"), F.lit(pop.name)]
    cloud = F.element_at(
        F.array(nid("cloud-stratus"), nid("cloud-cirrus"), nid("cloud-nimbus")),
        (F.pmod(hh.h("cloud"), F.lit(3)) + 1).cast("int"),
    )
    netc: Column
    idx: Column = F.pmod(hh.h("prefix"), network_attr(net, "size", cloud))
    # families of real text (--prompts real), tried in order: (condition, family)
    real: list[tuple[Column | None, str]] = []

    if pop.name == "individual":
        k = skewed(2.0)
        ci = _country(k)
        tz = _country_attr(ci, 1)
        weights = DIURNAL
        res = F.lit(net.id("res-US")) + ci
        mob = F.lit(net.id("mob6-US")) + ci
        r = hh.u("net")
        netc = F.when(r < 0.84, res).when(r < 0.97, mob).otherwise(cloud)
        idx = F.when(r < 0.84, F.floor(k / len(P.COUNTRY_TABLE))).otherwise(F.pmod(hh.h("prefix"), F.lit(16)))
        prompt = render(
            bank, _mix(bank, ("chat", 3), ("writing", 2), ("coding", 1), ("homework", 1)), hh.h("tpl"), s, key
        )
        real = [(None, "everyday")]
        ua = F.when(hh.u("ua") < 0.8, pick(BROWSER_UAS, _acct_hash(s, pop.name, k, "ua"))).otherwise(
            F.lit(SDK_PY_UA)
        )
        tls = F.when(ua == SDK_PY_UA, F.lit(SDK_TLS[0])).otherwise(
            pick(BROWSER_TLS, _acct_hash(s, pop.name, k, "tls"))
        )
    elif pop.name == "saas":
        k = skewed(2.0)
        app_cloud = F.element_at(
            F.array(nid("cloud-stratus"), nid("cloud-cirrus"), nid("cloud-nimbus")),
            (F.pmod(k, F.lit(3)) + 1).cast("int"),
        )
        netc = app_cloud
        idx = F.pmod(
            _acct_hash(s, pop.name, k, "prefix") + hh.int("px", 0, 3), network_attr(net, "size", app_cloud)
        )
        system_prompt = pick(bank.system_prompts["saas"], k)
        prompt = render(bank, _mix(bank, ("saas_user", 1)), hh.h("tpl"), s, key)
        real = [(None, "saas_app")]
        ua = F.lit(SDK_NODE_UA)
        tls = F.lit(SDK_TLS[1])
        n_messages = F.lit(1).cast("long")
        out_tokens = hh.int("out", 60, 400)
    elif pop.name == "enterprise":
        org = F.floor(k / P.ACCOUNTS_PER_ORG)
        corp = nid("corp-0") + org
        netc = corp
        idx = hh.int("prefix", 0, 1)
        cc_off = F.element_at(
            literal_array([x[1] for x in P.COUNTRIES]),
            (F.pmod(org, F.lit(3)) * 4 % len(P.COUNTRIES) + 1).cast("int"),
        )
        batch = hh.u("batch") < 0.8
        # nightly batch: every account of an org fires in the same 20 minutes after 02:00 local
        hour = F.when(batch, F.pmod(F.lit(2) - cc_off, F.lit(24))).otherwise(_hour(hh, OFFICE, cc_off))
        ms_in_hour = F.when(batch, hh.int("ms", 0, 20 * 60_000 - 1)).otherwise(ms_in_hour)
        prompt = F.when(
            batch, render(bank, _mix(bank, ("enterprise_batch", 1)), hh.h("tpl"), s, key)
        ).otherwise(render(bank, _mix(bank, ("writing", 1), ("coding", 1)), hh.h("tpl"), s, key))
        real = [(batch, "enterprise_batch"), (None, "work")]
        n_messages = F.when(batch, F.lit(1).cast("long")).otherwise(n_messages)
        out_tokens = F.when(batch, hh.int("out", 60, 220)).otherwise(out_tokens)
        status_429 = 0.03
    elif pop.name == "eval_lab":
        netc = nid("lab-0") + k
        idx = F.lit(0).cast("long")
        hour = F.pmod(F.xxhash64(F.lit(s), F.lit("burst"), k, F.col("day")), F.lit(24))
        ms_in_hour = hh.int("ms", 0, 45 * 60_000 - 1)
        prompt = render(bank, _mix(bank, ("eval", 1)), hh.h("tpl"), s, key)
        real = [(hh.u("judge") < 0.2, "eval_judge"), (None, "eval_bench")]
        thinking = hh.u("think") < 0.5
        n_messages = F.lit(1).cast("long")
        out_tokens = hh.int("out", 100, 1500)
    elif pop.name == "student":
        k = skewed(1.5)
        netc = nid("uni-0") + F.pmod(k, F.lit(c.n_universities))
        idx = hh.int("prefix", 0, 1)
        tz = -5
        weights = DIURNAL
        prompt = render(
            bank, _mix(bank, ("homework", 3), ("chat", 1), ("coding", 1), ("writing", 1)), hh.h("tpl"), s, key
        )
        real = [(None, "homework")]
        ua = pick(BROWSER_UAS, _acct_hash(s, pop.name, k, "ua"))
        tls = pick(BROWSER_TLS, _acct_hash(s, pop.name, k, "tls"))
    elif pop.name == "agent_dev":
        k = skewed(2.0)
        ci = _country(k)
        tz = _country_attr(ci, 1)
        weights = OFFICE
        home = hh.u("net") < 0.6
        netc = F.when(home, F.lit(net.id("res-US")) + ci).otherwise(cloud)
        idx = F.when(home, F.pmod(k * 7919, network_attr(net, "size", F.lit(net.id("res-US"))))).otherwise(
            idx
        )
        system_prompt = F.lit(bank.system_prompts["agent_dev"][0])
        prompt = render(bank, _mix(bank, ("agent_dev", 3), ("coding", 1)), hh.h("tpl"), s, key)
        real = [(None, "developer")]
        ua = F.lit(AGENT_SDK_UA)
        n_messages = hh.int("msgs", 8, 80)
        n_tools = hh.int("tools", 3, 20)
        tool_calls = hh.int("calls", 1, 12)
        out_tokens = hh.int("out", 200, 2500)
    elif pop.name == "campaign_a":
        k = F.pmod(F.col("id"), F.lit(n))  # round-robin load balancing over the accounts
        r = hh.u("net")
        netc = F.when(r < 0.7, nid("vps-bulwark")).otherwise(nid("cloud-nimbus"))
        idx = F.pmod(hh.h("prefix"), network_attr(net, "size", netc))
        f = hh.u("fam")
        if plan.evasion.switches & {"paraphrase", "drift"}:
            late = F.col("day") >= plan.days // 2

            def ask(intent: str) -> Column:
                early_t, late_t = _a_templates(plan, intent)
                early = render(bank, early_t, hh.h("tpl"), s, key)
                return (
                    early
                    if late_t == early_t
                    else F.when(late, render(bank, late_t, hh.h("tpl"), s, key)).otherwise(early)
                )

            prompt = (
                F.when(f < 0.55, ask("reasoning")).when(f < 0.8, ask("rubric")).otherwise(ask("sensitive"))
            )
        else:
            prompt = (
                F.when(f < 0.55, render(bank, _mix(bank, ("a_reasoning", 1)), hh.h("tpl"), s, key))
                .when(f < 0.8, render(bank, _mix(bank, ("a_rubric", 1)), hh.h("tpl"), s, key))
                .otherwise(render(bank, _mix(bank, ("a_sensitive", 1)), hh.h("tpl"), s, key))
            )
        real = [(f < 0.5, "a_reasoning"), (f < 0.8, "a_rubric"), (None, "a_sensitive")]
        thinking = hh.u("think") < 0.9
        n_messages = F.lit(1).cast("long")
        out_tokens = hh.int("out", 800, 3500)
    elif pop.name == "campaign_b":
        k = skewed(1.3)
        r = hh.u("net")
        netc = (
            F.when(r < 0.5, nid("proxy-lumen"))
            .when(r < 0.8, nid("cloud-stratus"))
            .otherwise(nid("cloud-nimbus"))
        )
        idx = F.pmod(hh.h("prefix"), network_attr(net, "size", netc))
        second_half = F.col("day") >= plan.days // 2
        f = hh.u("fam")
        reasoning = second_half & (f < 0.6)
        vision = ~reasoning & (hh.u("vision") < 0.2)
        cot = "para_cot" if "paraphrase" in plan.evasion else "b_reasoning"
        prompt = (
            F.when(reasoning, render(bank, _mix(bank, (cot, 1)), hh.h("tpl"), s, key))
            .when(vision, render(bank, _mix(bank, ("b_vision", 1)), hh.h("tpl"), s, key))
            .otherwise(render(bank, _mix(bank, ("b_agentic", 1)), hh.h("tpl"), s, key))
        )
        real = [(reasoning, "b_reasoning"), (vision, "b_vision"), (None, "b_agentic")]
        agentic = ~reasoning
        system_prompt = F.when(agentic & (hh.u("sys") < 0.5), F.lit(bank.system_prompts["b_agentic"][0]))
        ua = F.when(F.pmod(_acct_hash(s, pop.name, k, "ua"), F.lit(5)) < 2, F.lit(B_UA)).otherwise(
            F.lit(AGENT_SDK_UA)
        )
        has_image = vision
        thinking = F.when(reasoning, hh.u("think") < 0.9).otherwise(hh.u("think") < 0.3)
        n_messages = F.when(agentic, hh.int("msgs", 20, 120)).otherwise(F.lit(1).cast("long"))
        n_tools = F.when(agentic, hh.int("tools", 5, 30)).otherwise(F.lit(0).cast("long"))
        tool_calls = F.when(agentic, hh.int("calls", 2, 20)).otherwise(F.lit(0).cast("long"))
        out_tokens = hh.int("out", 500, 4000)
    elif pop.name in ("campaign_c", "hydra_resold"):
        r = hh.u("net")
        # proxy rotation: every exchange draws a fresh prefix of a few proxy/hosting networks
        netc = (
            F.when(r < 0.5, nid("proxy-riptide"))
            .when(r < 0.85, nid("proxy-undertow"))
            .otherwise(nid("vps-shoal"))
        )
        idx = F.pmod(hh.h("prefix"), network_attr(net, "size", netc))
        ua = F.lit(C_UA)
        tls = F.lit(C_TLS)
        status_429 = 0.06
        if pop.name == "campaign_c":
            prompt = render(bank, _mix(bank, ("c_agentic_coding", 1)), hh.h("tpl"), s, key)
            real = [(None, "c_agentic_coding")]
            n_tools = hh.int("tools", 1, 4)
            tool_calls = hh.int("calls", 1, 3)
            n_messages = hh.int("msgs", 2, 6)
            out_tokens = hh.int("out", 300, 1800)
        else:
            prompt = render(
                bank,
                _mix(bank, ("chat", 2), ("writing", 2), ("coding", 1), ("homework", 1)),
                hh.h("tpl"),
                s,
                key,
            )
            real = [(None, "everyday")]
    elif pop.name == "campaign_d":
        netc = nid("cloud-kiln")
        idx = F.pmod(hh.h("prefix"), F.lit(3))
        tz = 8
        weights = OFFICE
        prompt = render(bank, _mix(bank, ("d_analysis", 1)), hh.h("tpl"), s, key)
        real = [(None, "d_analysis")]
        tls = F.lit(D_TLS)
        thinking = hh.u("think") < 0.6
        n_messages = F.lit(1).cast("long")
        out_tokens = hh.int("out", 1500, 4000)
    else:
        raise ValueError(f"no traffic model for population {pop.name!r}")
    if pop.actor_key is not None and plan.evasion.switches & {"rotate", "slow"}:
        # the campaign's accounts and the hydra's resold traffic alike (it rides the same accounts)
        if "slow" in plan.evasion and pop.name == "campaign_a":
            k = F.pmod(hh.h("acct"), F.lit(n))  # no round robin: each exchange draws its account
        account = k

        def ah(salt: str) -> Column:
            return _acct_hash(s, acct_pop, account, salt)

        if "slow" in plan.evasion:
            tz = _country_attr(_country(ah("tz")), 1)
            weights, hour = DIURNAL, None
        if "rotate" in plan.evasion:
            res = F.lit(net.id("res-US")) + _country(ah("home"))
            netc = res
            # a few residential prefixes per account, the ones ordinary subscribers of that ISP use
            idx = F.pmod(ah("home-prefix") + hh.int("home-px", 0, 2), network_attr(net, "size", res))
            browser = F.pmod(ah("client"), F.lit(10)) < 7
            if pop.name == "campaign_b":
                ua, tls = F.lit(AGENT_SDK_UA), pick(SDK_TLS, ah("tls"))
            else:
                ua = F.when(browser, pick(BROWSER_UAS, ah("ua"))).otherwise(F.lit(SDK_PY_UA))
                tls = F.when(browser, pick(BROWSER_TLS, ah("tls"))).otherwise(F.lit(SDK_TLS[0]))
    if plan.real is not None:
        # the same populations and metadata; only the text comes from the public corpora
        base, prompt = plan.real.prompts(base, real, hh, account=k)

    hour = hour if hour is not None else _hour(hh, weights, tz)
    api_keys = 3 if pop.name in ("saas", "enterprise") else 1
    acct_id = _account_id(s, acct_pop, k)
    st = hh.u("status")
    status = (
        F.when(st < status_429, F.lit(429)).when(st < status_429 + 0.005, F.lit(400)).otherwise(F.lit(200))
    )
    # Two projections: the second refers to the first's columns, so large expressions
    # (network choice, prompt, time) are built once instead of being copied into every
    # expression that uses them (Catalyst keeps them apart: they are not cheap to repeat).
    stage = base.select(
        "id",
        "day",
        "seq",
        F.concat(_hex16(hh.h("rid1")), _hex16(hh.h("rid2"))).alias("request_id"),
        (
            F.lit(plan.start_ms)
            + F.col("day").cast("long") * DAY_MS
            + hour.cast("long") * HOUR_MS
            + ms_in_hour
        ).alias("ts_ms"),
        acct_id.alias("account_id"),
        F.pmod(hh.h("key"), F.lit(api_keys)).alias("_key"),
        (F.pmod(_acct_hash(s, acct_pop, k, "adopt"), F.lit(12))).alias("_adopt_h"),
        model_old.alias("_model_old"),
        netc.cast("int").alias("_net"),
        idx.cast("long").alias("_idx"),
        hh.h("host").alias("_host"),
        ua.alias("user_agent"),
        tls.alias("tls_fp"),
        F.substring(prompt, 1, 4000).alias("prompt"),
        system_prompt.alias("system_prompt"),
        status.cast("int").alias("status"),
        F.when(status == 200, out_tokens).otherwise(F.lit(0)).cast("long").alias("output_tokens"),
        n_messages.cast("int").alias("n_messages"),
        n_tools.cast("int").alias("n_tools"),
        tool_calls.cast("int").alias("tool_calls"),
        has_image.alias("has_image"),
        thinking.alias("thinking"),
        hh.int("ctx", 40, 400).alias("_ctx"),
        hh.int("lat", 0, 900).alias("_lat"),
        hh.u("new").alias("_u_new"),
    )
    since_release = (F.col("ts_ms") - F.lit(plan.release_ms)) / HOUR_MS
    if pop.name == "campaign_c":
        # about half the campaign moves to the new model within 12 h (per-account delay, 0-12 h)
        new = (since_release >= F.col("_adopt_h")) & (F.col("_u_new") < 0.5)
    else:
        new = (since_release >= 0) & (F.col("_u_new") < F.least(F.lit(0.3), since_release / (24 * 14)))
    in_tokens = (
        F.floor(F.length("prompt") / 3.5)
        + 1
        + (F.col("n_messages") - 1) * F.col("_ctx")
        + F.length(F.coalesce(F.col("system_prompt"), F.lit(""))) / 4
    )
    latency = F.when(F.col("status") == 200, 180 + F.col("output_tokens") * 12 + F.col("_lat")).otherwise(
        F.pmod(F.col("_lat"), F.lit(55)) + 5
    )
    return stage.select(
        "id",
        "day",
        "seq",
        "request_id",
        "ts_ms",
        "account_id",
        F.concat(F.lit("key_"), _hex16(F.xxhash64(F.lit(s), F.col("account_id"), F.col("_key")))).alias(
            "api_key_id"
        ),
        F.when(new, F.lit(NEW_MODEL)).otherwise(F.col("_model_old")).alias("model"),
        address_expr(net, F.col("_net"), F.col("_idx"), F.col("_host")).alias("client_ip"),
        prefix_expr(net, F.col("_net"), F.col("_idx")).alias("_prefix"),
        "_net",
        "user_agent",
        "tls_fp",
        "prompt",
        "system_prompt",
        in_tokens.cast("long").alias("input_tokens"),
        "output_tokens",
        "n_messages",
        "n_tools",
        "tool_calls",
        "has_image",
        "thinking",
        "status",
        latency.cast("long").alias("latency_ms"),
        F.lit(pop.name).alias("population"),
        F.lit(pop.actor).cast("string").alias("actor"),
        F.lit(pop.campaign).cast("string").alias("campaign"),
        F.lit(pop.is_campaign_traffic).alias("is_campaign_traffic"),
    )


def exchanges(spark: SparkSession, plan: WorldPlan) -> DataFrame:
    """Every generated exchange (before noise): contract fields, ``ts_ms``, ``day``, truth
    columns and the hidden helpers ``_prefix``/``_net``. One row per exchange."""
    return reduce(DataFrame.unionByName, [_population_exchanges(spark, plan, p) for p in P.POPULATIONS])


# -- noise and landing records -------------------------------------------------------------
LATE_SHARE, DUP_SHARE, BROKEN_SHARE = 0.02, 0.01, 0.0005
BROKEN_KINDS = ("truncated_json", "missing_field", "negative_tokens", "bad_ts", "bad_ip")


def _iso(ts_ms: Column, start: dt.date, day: Column) -> Column:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` by integer arithmetic (independent of the session time zone)."""
    date = F.date_format(F.date_add(F.lit(start), day), "yyyy-MM-dd")
    tod = F.pmod(ts_ms, F.lit(DAY_MS))

    def part(div: int, mod: int, width: int) -> Column:
        return F.lpad(F.pmod(F.floor(tod / div), F.lit(mod)).cast("string"), width, "0")

    return F.concat(
        date,
        F.lit("T"),
        part(HOUR_MS, 24, 2),
        F.lit(":"),
        part(60_000, 60, 2),
        F.lit(":"),
        part(1000, 60, 2),
        F.lit("."),
        part(1, 1000, 3),
        F.lit("Z"),
    )


def with_noise(ex: DataFrame, plan: WorldPlan) -> DataFrame:
    """Assign each exchange its delivery day and noise kind (null, late, duplicate, broken).

    Late: delivered 1-3 days after its event day (only when that day is in the window).
    Duplicate: delivered again (same line) in the same or the next folder. Broken: the
    landing line is damaged in one of ``BROKEN_KINDS``; the first individual exchange of
    each day is always broken, so even a tiny world has at least one a day.
    """
    s = plan.seed
    u = F.pmod(F.xxhash64(F.lit(s), F.lit("noise"), F.col("request_id")), F.lit(100_000)) / 100_000.0
    lag = F.pmod(F.xxhash64(F.lit(s), F.lit("lag"), F.col("request_id")), F.lit(3)) + 1
    # a lag that would deliver after the window is shortened; the last day has no late records
    lag = F.least(lag, F.lit(plan.days - 1) - F.col("day"))
    lo_dup, lo_broken = LATE_SHARE, LATE_SHARE + DUP_SHARE
    broken = ((u >= lo_broken) & (u < lo_broken + BROKEN_SHARE)) | (
        (F.col("population") == "individual") & (F.col("seq") == 0)
    )
    late = ~broken & (u < LATE_SHARE) & (lag >= 1)
    dup = ~broken & (u >= lo_dup) & (u < lo_broken)
    noise = F.when(broken, F.lit("broken")).when(late, F.lit("late")).when(dup, F.lit("duplicate"))
    dup_day = F.least(
        F.col("day") + F.pmod(F.xxhash64(F.lit(s), F.lit("dup"), F.col("request_id")), F.lit(2)),
        F.lit(plan.days - 1),
    )
    return ex.select(
        "*",
        noise.alias("noise"),
        F.when(late, F.col("day") + lag).otherwise(F.col("day")).cast("int").alias("delivery_day"),
        F.when(dup, dup_day).cast("int").alias("dup_day"),
        F.when(broken, pick(BROKEN_KINDS, F.xxhash64(F.lit(s), F.lit("broken"), F.col("request_id")))).alias(
            "broken_kind"
        ),
    )


def landing_exchanges(noisy: DataFrame, plan: WorldPlan) -> DataFrame:
    """One row per landing line: ``date`` (delivery folder, ``YYYY-MM-DD``) and ``value``
    (the JSON line, damaged when broken). Duplicates appear twice."""
    kind = F.col("broken_kind")
    ts = _iso(F.col("ts_ms"), plan.start, F.col("day"))
    fields = {name: F.col(name) for name, _, _ in EXCHANGE_FIELDS if name != "ts"}
    fields["ts"] = F.when(kind == "bad_ts", F.concat(F.substring(ts, 1, 11), F.lit("27:61:00Z"))).otherwise(
        ts
    )
    fields["account_id"] = F.when(kind == "missing_field", F.lit(None)).otherwise(F.col("account_id"))
    fields["input_tokens"] = F.when(kind == "negative_tokens", -F.col("input_tokens") - 1).otherwise(
        F.col("input_tokens")
    )
    fields["client_ip"] = F.when(
        kind == "bad_ip", F.concat(F.lit("999."), F.substring_index(F.col("client_ip"), ".", -3))
    ).otherwise(F.col("client_ip"))
    line = F.to_json(F.struct(*[fields[name].alias(name) for name, _, _ in EXCHANGE_FIELDS]))
    line = F.when(
        kind == "truncated_json", F.substring(line, 1, F.floor(F.length(line) / 2).cast("int"))
    ).otherwise(line)
    rows = noisy.select(F.col("delivery_day"), F.col("dup_day"), line.alias("value"), F.col("request_id"))
    once = rows.select(F.col("delivery_day").alias("d"), "value", "request_id")
    again = rows.where(F.col("dup_day").isNotNull()).select(
        F.col("dup_day").alias("d"), "value", "request_id"
    )
    both = once.unionByName(again)
    return both.select(
        F.date_format(F.date_add(F.lit(plan.start), F.col("d")), "yyyy-MM-dd").alias("date"),
        "value",
        "request_id",
    )


def truth_exchanges(noisy: DataFrame, plan: WorldPlan) -> DataFrame:
    """Ground truth, one row per request_id (a duplicate is one request delivered twice)."""
    return noisy.select(
        "request_id",
        "account_id",
        "population",
        "campaign",
        "actor",
        "is_campaign_traffic",
        "noise",
        F.date_add(F.lit(plan.start), F.col("day")).alias("event_date"),
        F.date_add(F.lit(plan.start), F.col("delivery_day")).alias("delivery_date"),
        "model",
    )


def account_snapshots(accts: DataFrame, plan: WorldPlan) -> DataFrame:
    """The registry as delivered: one row per account per day (``date`` folder), contract fields only."""
    days = accts.sparkSession.range(plan.days).select(
        F.date_format(F.date_add(F.lit(plan.start), F.col("id").cast("int")), "yyyy-MM-dd").alias("date")
    )
    fields = [
        "account_id",
        "org_id",
        "created_at",
        "billing_country",
        "signup_path",
        "payment_fp",
        "email_domain",
        "verified",
    ]
    line = F.to_json(
        F.struct(*[F.col(f) for f in fields]), {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"}
    )
    return accts.crossJoin(days).select("date", line.alias("value"), "account_id")


def model_releases(spark: SparkSession, plan: WorldPlan) -> DataFrame:
    rows = [*PRIOR_RELEASES, (NEW_MODEL, plan.release_ts)]
    return spark.createDataFrame(rows, "model string, released_at string")


# -- intel and labels ------------------------------------------------------------------------
def threat_intel(ex: DataFrame, accts: DataFrame, plan: WorldPlan) -> DataFrame:
    """Partial, imperfect threat intel on actors A, B and C (none on D).

    One row per indicator. Every value occurs in the generated traffic or registry; one
    mis-listed low-confidence indicator (a university NAT prefix for actor B) hits
    legitimate students.
    """
    s = plan.seed
    spark = ex.sparkSession
    a, b, c = (P.ACTORS[x][0] for x in "ABC")
    first_seen = F.date_sub(
        F.lit(plan.start), 5 + F.pmod(F.xxhash64(F.lit(s), F.col("value")), F.lit(40)).cast("int")
    )

    def keep(share: float) -> Column:
        return F.pmod(F.xxhash64(F.lit(s), F.lit("intel"), F.col("value")), F.lit(1000)) < int(share * 1000)

    def rows(df: DataFrame, itype: str, actor: str, source: str, conf: float) -> DataFrame:
        return df.select(
            F.lit(itype).alias("indicator_type"),
            F.col("value"),
            F.lit(actor).alias("actor"),
            F.lit(source).alias("source"),
            (F.lit(conf) + F.pmod(F.xxhash64(F.lit(s), F.col("value")), F.lit(15)) / 100.0).alias(
                "confidence"
            ),
        )

    camp = ex.where(F.col("is_campaign_traffic"))
    net = plan.net
    rotated = "rotate" in plan.evasion

    def seen(names: Sequence[str]) -> DataFrame:
        """Prefixes of the actor's networks: those its traffic uses, or (``rotate``) the ones it
        used before moving to residential prefixes, which its traffic no longer touches."""
        if not rotated:
            return camp.where(F.col("_net").isin(*[net.id(x) for x in names])).select(
                F.col("_prefix").alias("value")
            )
        ids = [net.id(x) for x in names]
        return reduce(
            DataFrame.unionByName,
            [
                spark.range(net.networks[i].size).select(
                    prefix_expr(net, F.lit(i), F.col("id")).alias("value")
                )
                for i in ids
            ],
        )

    prefixes = [
        rows(seen(["vps-bulwark"]).distinct().where(keep(0.5)), "ip_prefix", a, "partner-feed", 0.7),
        rows(seen(["proxy-lumen"]).distinct().where(keep(0.3)), "ip_prefix", b, "osint-report", 0.6),
        rows(
            seen(["proxy-riptide", "proxy-undertow"]).distinct().where(keep(0.4)),
            "ip_prefix",
            c,
            "internal-ir",
            0.75,
        ),
    ]
    lit_rows = spark.createDataFrame(
        [
            ("asn", str(net.networks[net.id("vps-bulwark")].asn), a, "partner-feed", 0.7),
            ("asn", str(net.networks[net.id("proxy-riptide")].asn), c, "internal-ir", 0.8),
            ("email_domain", P.THROWAWAY_B[0], b, "osint-report", 0.65),
            ("email_domain", P.THROWAWAY_C[0], c, "internal-ir", 0.7),
            ("tls_fp", C_TLS, c, "internal-ir", 0.85),
            ("user_agent", B_UA, b, "partner-feed", 0.8),
        ],
        "indicator_type string, value string, actor string, source string, confidence double",
    ).select("indicator_type", "value", "actor", "source", "confidence")
    # the mis-listed one: a university NAT prefix attributed to actor B, low confidence
    uni_prefix = prefix_expr(net, F.lit(net.id("uni-0")), F.lit(0))
    wrong = spark.range(1).select(
        F.lit("ip_prefix").alias("indicator_type"),
        uni_prefix.alias("value"),
        F.lit(b).alias("actor"),
        F.lit("osint-report").alias("source"),
        F.lit(0.3).alias("confidence"),
    )
    if rotated:
        # the shared cards the actors paid with before: no account carries them any more
        n_b = plan.census.accounts["campaign_b"]
        old_a = spark.range(2).select(_payment_fp(s, "A-instrument", F.col("id")).alias("value"))
        old_b = spark.range(n_b // 5 + 1).select(_payment_fp(s, "B-card", F.col("id")).alias("value"))
        a_cards, b_cards = old_a.orderBy("value").limit(1), old_b.where(keep(0.3))
    else:
        a_cards = (
            accts.where(F.col("population") == "campaign_a")
            .select(F.col("payment_fp").alias("value"))
            .distinct()
            .orderBy("value")
            .limit(1)
        )
        b_cards = (
            accts.where(F.col("population") == "campaign_b")
            .select(F.col("payment_fp").alias("value"))
            .distinct()
            .where(keep(0.3))
        )
    pay = [
        rows(
            a_cards,
            "payment_fp",
            a,
            "partner-feed",
            0.8,
        ),
        rows(
            b_cards,
            "payment_fp",
            b,
            "internal-ir",
            0.7,
        ),
    ]
    examples = []
    for actor, pop, needle in (
        (a, "campaign_a", "最终答案"),
        (a, "campaign_a", "score 1-10 per criterion"),
        (b, "campaign_b", "Agent session"),
    ):
        ex_rows = (
            ex.where((F.col("population") == pop) & F.col("prompt").contains(needle))
            .agg(F.min("prompt").alias("value"))
            .where(F.col("value").isNotNull())
        )
        examples.append(rows(ex_rows, "prompt_example", actor, "partner-feed", 0.6))
    parts = [*prefixes, lit_rows, wrong, *pay, *examples]
    out = reduce(
        DataFrame.unionByName,
        [p.select("indicator_type", "value", "actor", "source", "confidence") for p in parts],
    )
    return out.select("*", first_seen.alias("first_seen"))


def labels(accts: DataFrame, plan: WorldPlan) -> DataFrame:
    """Analyst decisions: ~40% of A/B/C accounts (distillation) and a sample of legitimate
    accounts, hard negatives over-sampled (benign). None for actor D. One row per account."""
    s = plan.seed
    u = F.pmod(F.xxhash64(F.lit(s), F.lit("label"), F.col("account_id")), F.lit(1000)) / 1000.0
    pop = F.col("population")
    # exactly 2 in 5 accounts of each known actor (by index), so small test worlds keep the share
    campaign_labelled = pop.isin("campaign_a", "campaign_b", "campaign_c") & (
        F.pmod(F.col("_k") * 3 + s, F.lit(5)) < 2
    )
    benign_rate = F.when(pop == "individual", 0.03).when(pop.startswith("campaign"), 0.0).otherwise(0.25)
    benign = ~pop.startswith("campaign") & (u < benign_rate)
    decided = F.lit(plan.start_ms) + F.pmod(
        F.xxhash64(F.lit(s), F.lit("decided"), F.col("account_id")), F.lit(plan.days * DAY_MS)
    )
    return accts.where(campaign_labelled | benign).select(
        "account_id",
        F.when(campaign_labelled, F.lit("distillation")).otherwise(F.lit("benign")).alias("label"),
        F.when(campaign_labelled, F.col("actor")).alias("actor"),
        F.when(campaign_labelled, F.col("campaign")).alias("campaign"),
        F.date_format(F.timestamp_millis(decided), "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").alias("decided_at"),
    )


@dataclass(frozen=True)
class World:
    """The generated world as lazy DataFrames (nothing is computed until written)."""

    plan: WorldPlan
    noisy_exchanges: DataFrame
    accounts: DataFrame

    @property
    def landing_exchanges(self) -> DataFrame:
        return landing_exchanges(self.noisy_exchanges, self.plan)

    @property
    def truth_exchanges(self) -> DataFrame:
        return truth_exchanges(self.noisy_exchanges, self.plan)

    @property
    def truth_accounts(self) -> DataFrame:
        return self.accounts.select(
            "account_id", "population", "actor", "campaign", "signup_path", "payment_fp"
        )

    @property
    def account_snapshots(self) -> DataFrame:
        return account_snapshots(self.accounts, self.plan)

    def ip_intel(self) -> DataFrame:

        return ip_intel(self.noisy_exchanges.sparkSession, self.plan.net, self.plan.seed)

    def threat_intel(self) -> DataFrame:
        return threat_intel(self.noisy_exchanges, self.accounts, self.plan)

    def labels(self) -> DataFrame:
        return labels(self.accounts, self.plan)

    def model_releases(self) -> DataFrame:
        return model_releases(self.noisy_exchanges.sparkSession, self.plan)


def build_world(
    spark: SparkSession,
    start: str,
    days: int,
    scale: float,
    seed: int,
    prompts: str = "templates",
    corpus_cache: str | None = None,
    evasion: Evasion = PLAIN,
) -> World:
    """Plan and (lazily) generate the whole world (``prompts``, ``evasion``: see ``plan_world``)."""
    plan = plan_world(start, days, scale, seed, prompts=prompts, corpus_cache=corpus_cache, evasion=evasion)
    return World(plan, with_noise(exchanges(spark, plan), plan), accounts(spark, plan))
