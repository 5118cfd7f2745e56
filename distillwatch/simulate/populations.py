"""Who lives in the synthetic world: populations, actors, countries and networks.

Counts are given at ``scale = 1.0`` (about a million exchanges a day) and scaled, with a
floor so every population exists even in a tiny test world. Legitimate populations
include the hard negatives a detector must survive (templated SaaS and enterprise batch
traffic, benchmark bursts, shared university NAT); campaigns are named after codename
actors, never real companies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from distillwatch.simulate.network import Network, NetworkPlan, plan_networks

ACTORS: dict[str, tuple[str, str]] = {
    # key -> (actor codename, campaign name)
    "A": ("GLASS-HERON", "glass-heron-reasoning-extraction"),
    "B": ("COPPER-MANTIS", "copper-mantis-agentic-extraction"),
    "C": ("TIDEWATER", "tidewater-hydra-resale"),
    "D": ("NIGHT-LOOM", "night-loom-analysis-extraction"),
}


@dataclass(frozen=True)
class Population:
    """One kind of traffic: its accounts and its daily exchange volume (at scale 1.0)."""

    name: str
    accounts: int
    min_accounts: int
    daily_volume: int
    actor_key: str | None = None
    is_campaign_traffic: bool = False
    account_pool: str | None = None
    """Draw accounts of another population (resold traffic of the hydra's accounts)."""

    @property
    def actor(self) -> str | None:
        return ACTORS[self.actor_key][0] if self.actor_key else None

    @property
    def campaign(self) -> str | None:
        return ACTORS[self.actor_key][1] if self.actor_key else None


POPULATIONS: tuple[Population, ...] = (
    Population("individual", 150_000, 20, 380_000),
    Population("saas", 300, 3, 190_000),
    Population("enterprise", 720, 24, 110_000),  # 12 accounts per org
    Population("eval_lab", 40, 2, 40_000),
    Population("student", 20_000, 20, 60_000),
    Population("agent_dev", 3_000, 10, 50_000),
    Population("campaign_a", 3_000, 8, 20_000, "A", True),
    Population("campaign_b", 4_000, 30, 35_000, "B", True),
    Population("campaign_c", 20_000, 150, 60_000, "C", True),
    Population("hydra_resold", 0, 0, 25_000, "C", False, account_pool="campaign_c"),
    Population("campaign_d", 600, 4, 10_000, "D", True),
)
ACCOUNTS_PER_ORG = 12
STUDENTS_PER_UNIVERSITY = 1_500

# Countries: (code, UTC offset in hours, residential ASN, ISP name, free-mail domains).
COUNTRIES: tuple[tuple[str, int, int, str, tuple[str, ...]], ...] = (
    ("US", -5, 7018, "Kestrel Broadband", ("gmail.com", "outlook.com", "yahoo.com")),
    ("CN", 8, 4134, "Lotus Telecom", ("qq.com", "163.com", "126.com")),
    ("IN", 5, 55836, "Monsoon Fiber", ("gmail.com", "outlook.com", "rediffmail.com")),
    ("BR", -3, 28573, "Ipe Net", ("gmail.com", "hotmail.com", "uol.com.br")),
    ("DE", 1, 3320, "Rheinwelle", ("gmx.de", "web.de", "gmail.com")),
    ("GB", 0, 2856, "Thistle Broadband", ("gmail.com", "outlook.com", "btinternet.com")),
    ("FR", 1, 3215, "Mistral Telecom", ("gmail.com", "orange.fr", "free.fr")),
    ("JP", 9, 2516, "Sakura Hikari", ("yahoo.co.jp", "gmail.com", "docomo.ne.jp")),
    ("KR", 9, 4766, "Hanbit Telecom", ("naver.com", "daum.net", "gmail.com")),
    ("ID", 7, 7713, "Nusantara Net", ("gmail.com", "yahoo.co.id", "outlook.com")),
    ("NG", 1, 29465, "Baobab Mobile", ("gmail.com", "yahoo.com", "outlook.com")),
    ("MX", -6, 8151, "Nopal Cable", ("gmail.com", "hotmail.com", "outlook.com")),
)
# Individual accounts' countries: account k -> COUNTRY_TABLE[k mod 20] (a weighted mix).
COUNTRY_TABLE: tuple[int, ...] = (0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9, 10, 11)
FREE_MAIL = ("gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "proton.me", "qq.com", "163.com")
ENTERPRISE_NAMES = (
    "aldercrest",
    "brightwater",
    "corvane",
    "duskfield",
    "emberline",
    "fairhollow",
    "glenmark",
    "harrowgate",
    "ironbark",
    "juniper-row",
    "kelvara",
    "lumenfold",
)
UNIVERSITIES = (
    "northvale",
    "southmere",
    "eastbrook",
    "westhaven",
    "riverton",
    "highcliff",
    "lakemont",
    "stonebridge",
)
EVAL_LABS = ("evalforge.ai", "benchwright.org", "metricsmith.ai", "scoreline-labs.com")
SAAS_DOMAINS = ("listingpro.io", "helpdeskly.com", "transloom.io", "meetminutes.app")
THROWAWAY_B = ("mailvault.top", "quickinbox.xyz")
THROWAWAY_C = ("inboxkit.xyz", "tempmailr.net", "dropbox-mail.cc")
STARTUP_D = ("quantlyra.ai", "datakite.io", "numberloom.ai")


def scaled(n: int, minimum: int, scale: float) -> int:
    """``n`` at ``scale``, never below ``minimum``."""
    return max(minimum, int(round(n * scale)))


@dataclass(frozen=True)
class Census:
    """Account counts and daily volumes of one world at one scale."""

    accounts: dict[str, int]
    volumes: dict[str, int]

    @property
    def n_orgs(self) -> int:
        return self.accounts["enterprise"] // ACCOUNTS_PER_ORG

    @property
    def n_universities(self) -> int:
        return max(1, math.ceil(self.accounts["student"] / STUDENTS_PER_UNIVERSITY))


def census(scale: float) -> Census:
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    accounts: dict[str, int] = {}
    volumes: dict[str, int] = {}
    for p in POPULATIONS:
        if p.account_pool is None:
            n = scaled(p.accounts, p.min_accounts, scale)
            if p.name == "enterprise":
                n = -(-n // ACCOUNTS_PER_ORG) * ACCOUNTS_PER_ORG
            accounts[p.name] = n
        volumes[p.name] = max(10, int(round(p.daily_volume * scale)))
    return Census(accounts, volumes)


def build_networks(c: Census, scale: float) -> NetworkPlan:
    """Every network of the world; names are stable, ids follow this order."""
    nets: list[Network] = []
    res_size = (c.accounts["individual"] - 1) // len(COUNTRY_TABLE) + 1
    for cc, _, asn, isp, _ in COUNTRIES:
        nets.append(Network(f"res-{cc}", asn, f"{isp} ({cc})", cc, res_size))
    for cc, _, asn, isp, _ in COUNTRIES:
        nets.append(Network(f"mob6-{cc}", asn + 1, f"{isp} Mobile ({cc})", cc, 16, ipv6=True))
    cloud = max(16, int(2_000 * scale))
    nets += [
        Network("cloud-stratus", 64601, "Stratus Compute", "US", cloud, is_hosting=True),
        Network("cloud-cirrus", 64602, "Cirrus Hosting GmbH", "DE", cloud, is_hosting=True),
        Network("cloud-nimbus", 64603, "Nimbus Cloud Pte", "SG", cloud, is_hosting=True),
        Network("cloud6-stratus", 64601, "Stratus Compute", "US", 64, is_hosting=True, ipv6=True),
        # actor infrastructure
        Network("vps-bulwark", 209_771, "Bulwark VPS B.V.", "NL", max(4, int(600 * scale)), is_hosting=True),
        Network(
            "proxy-lumen",
            212_844,
            "Lumen Residential Proxies",
            "US",
            max(12, int(2_400 * scale)),
            is_proxy=True,
        ),
        Network(
            "proxy-riptide",
            213_120,
            "Riptide Proxy Networks",
            "HK",
            max(4, int(800 * scale)),
            is_hosting=True,
            is_proxy=True,
        ),
        Network(
            "proxy-undertow", 214_377, "Undertow Proxy Ltd", "SC", max(3, int(500 * scale)), is_proxy=True
        ),
        Network("vps-shoal", 215_002, "Shoal Hosting", "RU", max(2, int(300 * scale)), is_hosting=True),
        Network("cloud-kiln", 216_640, "Kiln Compute", "SG", 3, is_hosting=True),
    ]
    for o in range(c.n_orgs):
        name = ENTERPRISE_NAMES[o % len(ENTERPRISE_NAMES)]
        cc = COUNTRIES[o % 3 * 4 % len(COUNTRIES)][0]
        nets.append(Network(f"corp-{o}", 40_000 + o, f"{name.title()} Corp {o}", cc, 2))
    for u in range(c.n_universities):
        name = UNIVERSITIES[u % len(UNIVERSITIES)]
        nets.append(Network(f"uni-{u}", 50_000 + u, f"University of {name.title()} {u}", "US", 2))
    for lab in range(c.accounts["eval_lab"]):
        nets.append(
            Network(f"lab-{lab}", 60_000 + lab, f"{EVAL_LABS[lab % len(EVAL_LABS)]} lab {lab}", "US", 1)
        )
    return plan_networks(nets)
