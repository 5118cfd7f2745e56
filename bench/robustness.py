"""Robustness to campaigns that adapt: one small world per evasion switch, measured against the plain one.

    .venv/bin/python -m bench.robustness run --out /tmp/robust [--configs plain,paraphrase,...] [--snapshot REV]
    .venv/bin/python -m bench.robustness table --out /tmp/robust [--doc docs/evaluation.md]

``run`` simulates, for every configuration, the same world (``--days`` 6 at ``--scale`` 0.005,
``--seed`` 7: same seed, so only the switch differs) with ``simulate --evasion ...``, runs it
through the CLI as a scheduler does (``bench.scheduled_run``: backfill, ``train --as-of`` the
``--train-after``-th day, backfill of the rest, one process each), and writes what the run
found against the world's truth to ``OUT/<config>/metrics.json``. A configuration whose
``metrics.json`` exists is skipped (``--force`` reruns it), so an interrupted sweep resumes.

Configurations: ``plain`` (no switch), each switch alone, ``all`` (every switch),
switches together joined by ``+`` (``rotate+slow+mix``), and ``mix-<share>`` for the
hydra's resold share swept (``--mix-sweep``; ``mix`` alone is the default share 0.7).

``--prompts real`` builds the worlds from real public texts (docs/real-text-world.md) instead
of templates; the switches that rewrite prompt text (``paraphrase``, ``drift``) do not apply
to them, so ``all`` there means every other switch. Keep such worlds in their own ``--out``:
``table`` writes one section per prompt kind.

``--warm-from DIR`` (a world folder of an earlier ``run``, another seed's ``plain``, say) first
registers, in each world's empty MLflow store, the model ``train`` fits on DIR's lakehouse
(:func:`warm_start`), so detection has a champion from the first day: the position of a
provider whose detector caught the campaigns before they adapted. Such worlds get a section
of their own; keep them in their own ``--out``.

``table`` reads the ``metrics.json`` files and writes the robustness section (table, the drop
against ``plain``, the targets met or missed) into ``--doc`` between its markers, and the mix
sweep plot to ``docs/img/robustness-mix.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from bench import evaluate_world as ev
from bench import scheduled_run
from distillwatch import tables
from distillwatch.config import load_config
from distillwatch.context import JobContext
from distillwatch.simulate.evasion import EVASIONS, TEXT_EVASIONS, Evasion

REPO = Path(__file__).resolve().parent.parent
HYDRA = "tidewater-hydra-resale"
DEFAULT_CONFIGS = ("plain", *EVASIONS, "all")
BEGIN, END = "<!-- robustness begin -->", "<!-- robustness end -->"
# the section of the real-text worlds (--prompts real)
REAL_BEGIN, REAL_END = "<!-- robustness-real begin -->", "<!-- robustness-real end -->"
# Targets of the robustness issue, against the plain world.
MAX_DROP_SINGLE, MAX_DROP_ALL = 0.05, 0.10
MIN_ACCOUNT_PRECISION, MIN_HYDRA_PRECISION, HYDRA_PRECISION_UP_TO = 0.98, 0.95, 0.7
# the hydra's resold share under simulate --evasion mix without --resold-share
DEFAULT_RESOLD_SHARE = Evasion().resold_share


def switches_of(config: str, prompts: str = "templates") -> list[str]:
    """The evasion switches one configuration name turns on, in ``EVASIONS`` order."""
    if config == "plain":
        return []
    if config == "all":
        names = [e for e in EVASIONS if prompts == "templates" or e not in TEXT_EVASIONS]
    elif config.startswith("mix-"):
        names = ["mix"]
    else:
        names = config.split("+")
    unknown = [n for n in names if n not in EVASIONS]
    if unknown:
        raise SystemExit(
            f"unknown configuration {config!r}: plain, all, mix-<share>, one of {EVASIONS} or several joined by +"
        )
    if prompts == "real" and TEXT_EVASIONS.intersection(names):
        raise SystemExit(
            f"{config!r}: {', '.join(sorted(TEXT_EVASIONS))} rewrite templates; not with --prompts real"
        )
    return [e for e in EVASIONS if e in names]


def evasion_args(config: str, prompts: str = "templates") -> list[str]:
    """``simulate`` arguments of one configuration name."""
    names = switches_of(config, prompts)
    args = ["--prompts", "real"] if prompts == "real" else []
    if names:
        args += ["--evasion", ",".join(names)]
    if config.startswith("mix-"):
        args += ["--resold-share", config.split("-", 1)[1]]
    return args


def _cli(args: list[str], log: Path) -> float:
    t0 = time.perf_counter()
    with log.open("w") as fh:
        rc = subprocess.call(args, stdout=fh, stderr=subprocess.STDOUT, cwd="/tmp")
    if rc != 0:
        raise SystemExit(f"{' '.join(args[:4])} ... failed (exit {rc}); see {log}")
    return time.perf_counter() - t0


def code_version() -> str:
    """The checkout's short commit, ``-dirty`` when tracked files differ from it."""
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True
    )
    return (rev.stdout.strip() or "unknown") + ("-dirty" if dirty.stdout.strip() else "")


def code_of(metrics: dict[str, Any]) -> str:
    """The code version a world's ``metrics.json`` was measured at."""
    return metrics.get("code") or metrics.get("snapshot") or "working tree"


def training_day(world: Path, train_after: int) -> dt.date:
    """The day ``train --as-of`` runs on in a world trained after its ``train_after``-th day."""
    return scheduled_run.world_dates(world)[0] + dt.timedelta(days=train_after - 1)


def warm_start(source: Path, lake: Path, work: Path, rev: str | None) -> dict[str, Any]:
    """Register, in ``lake``'s (empty) MLflow store, a champion trained on another processed world.

    ``source`` is a world folder of an earlier ``run`` (its ``lake`` and ``metrics.json``):
    ``distillwatch train --as-of`` that world's training day runs on its lakehouse, with the
    MLflow store and artifact root pointed at ``lake``'s (``MLFLOW_TRACKING_URI`` and a copy of
    the configuration whose environment sets ``paths.mlflow_artifact_root``). ``lake``'s daily
    runs then score with that champion from their first day, as a provider's detector does when
    a campaign it has caught before comes back changed; its own ``train`` competes with it on
    its holdout as usual. Returns what ``metrics.json`` records of the source.
    """
    m = json.loads((source / "metrics.json").read_text())
    as_of = training_day(source / "world", m["world"]["train_after"])
    work.mkdir(parents=True, exist_ok=True)
    env = scheduled_run.scheduler_env()
    if rev:
        site = scheduled_run.snapshot(rev, work / "warm-code")
        env["PYTHONPATH"] = str(site)
        cli = [sys.executable, "-m", "distillwatch.cli"]
        conf = site / "distillwatch" / "conf"
    else:
        cli = [str(REPO / ".venv" / "bin" / "distillwatch")]
        conf = REPO / "conf"
    conf_copy = work / "warm-conf"
    subprocess.call(["rm", "-rf", str(conf_copy)])
    subprocess.run(["cp", "-r", str(conf), str(conf_copy)], check=True)
    store = (lake / "mlflow").resolve()
    store.mkdir(parents=True, exist_ok=True)
    (conf_copy / "warm.yaml").write_text(
        (conf / "local.yaml").read_text() + f"\npaths:\n  mlflow_artifact_root: {store / 'artifacts'}\n"
    )
    env.update(DISTILLWATCH_CONF_DIR=str(conf_copy), MLFLOW_TRACKING_URI=f"sqlite:///{store / 'mlflow.db'}")
    cmd = [*cli, "--env", "warm", "--lakehouse", str((source / "lake").resolve()), "train", "--as-of", str(as_of)]
    with (work / "warm-train.log").open("w") as fh:
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=str(work), env=env)
    if rc != 0:
        raise SystemExit(f"warm-start training on {source} failed (exit {rc}); see {work / 'warm-train.log'}")
    # a model below the promotion floors is registered but not promoted: the world would run cold
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    name = load_config("local").models.registered_model
    try:
        champion = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias(name, "champion")
    except MlflowException as exc:
        raise SystemExit(
            f"warm start: the model trained on {source} was not promoted (see {work / 'warm-train.log'}), "
            "so the world would start cold"
        ) from exc
    return {
        "world": str(source),
        "seed": m["world"]["seed"],
        "as_of": str(as_of),
        "code": code_of(m),
        "champion_version": str(champion.version),
    }


def run_config(config: str, out: Path, a: argparse.Namespace) -> dict[str, Any]:
    """Simulate, process and measure one configuration; returns (and writes) its metrics."""
    root = out / config
    root.mkdir(parents=True, exist_ok=True)
    world, lake, work = root / "world", root / "lake", root / "work"
    for stale in (world, lake, work):
        subprocess.call(["rm", "-rf", str(stale)])
    cli = str(REPO / ".venv" / "bin" / "distillwatch")
    sim_s = _cli(
        [cli, "simulate", "--out", str(world), "--days", str(a.days), "--scale", str(a.scale),
         "--seed", str(a.seed), *evasion_args(config, a.prompts)],
        root / "simulate.log",
    )  # fmt: skip
    warm = warm_start(Path(a.warm_from), lake, work, a.snapshot) if a.warm_from else None
    sched = [sys.executable, "-m", "bench.scheduled_run", "--world", str(world), "--lakehouse", str(lake),
             "--train-after", str(a.train_after), "--workdir", str(work), "--train-failure", "continue", "--quiet"]  # fmt: skip
    if a.snapshot:
        sched += ["--snapshot", a.snapshot]
    if warm:
        sched.append("--allow-existing")  # the lakehouse holds the warm champion's MLflow store only
    t0 = time.perf_counter()
    with (root / "run.log").open("w") as fh:
        rc = subprocess.call(sched, stdout=fh, stderr=subprocess.STDOUT, cwd=str(REPO))
    run_s = time.perf_counter() - t0
    # 1: only the retrain failed and the daily runs went on (--train-failure continue); 2: a daily
    # step failed (a killed process, say), so the lakehouse misses days and is not measured
    if rc not in (0, 1):
        raise SystemExit(f"scheduled run of {config} failed (exit {rc}); see {root / 'run.log'}")
    as_of = training_day(world, a.train_after)
    metrics = measure(world, str(lake), as_of)
    metrics.update(
        config=config,
        simulate_args=evasion_args(config, a.prompts),
        world={
            "days": a.days,
            "scale": a.scale,
            "seed": a.seed,
            "train_after": a.train_after,
            "prompts": a.prompts,
        },
        retrain_exit=rc,
        warm_from=warm,
        seconds={"simulate": round(sim_s, 1), "pipeline": round(run_s, 1)},
        snapshot=a.snapshot,
        code=a.snapshot or code_version(),
        measured_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    (root / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    return metrics


def measure(world: Path, lakehouse: str, as_of: dt.date) -> dict[str, Any]:
    """The robustness figures of one processed world (every evaluated day; recall also after training)."""
    truth = world / "truth"
    c = JobContext(cfg=load_config("local"), landing=str(world / "landing"), lakehouse_root=lakehouse)
    spark = c.spark
    accounts = spark.read.parquet(str(truth / "accounts")).select(
        "account_id", "population", "campaign", "actor"
    )
    tx = spark.read.parquet(str(truth / "exchanges"))
    silver = c.lake.read(tables.SILVER_EXCHANGES).select("event_date", "request_id", "account_id")
    activity = silver.select("event_date", "account_id").distinct()
    members = c.lake.read(tables.CAMPAIGN_MEMBERS)
    min_accounts = c.cfg.attribution.min_accounts
    acc = {
        r["period"]: r.asDict()
        for r in ev.account_metrics(members, activity, accounts, min_accounts, as_of).collect()
    }
    exc = {r["period"]: r.asDict() for r in ev.exchange_metrics(c.lake.read(tables.CAMPAIGN_EXCHANGES), silver, tx, as_of).collect()}  # fmt: skip
    cd = ev.campaign_days(members, accounts, c.lake.read(tables.CAMPAIGN_ATTRIBUTION_DAILY))
    cdays = [r.asDict() for r in cd.collect()]
    p = ev.planted(c, truth, accounts, tx, activity, cdays, as_of)
    outcomes, pivots, active = p.outcomes, p.pivots, p.active
    days_active = sum(o.days_active for o in outcomes)
    days_found = sum(o.days_found for o in outcomes)
    right = sum(o.days_right_before + o.days_right_after for o in outcomes)
    after_active = sum(len({d for d in active[o.campaign] if d > as_of}) for o in outcomes)
    after_found = sum(
        len({r["event_date"] for r in cdays if r["planted"] == o.campaign and r["event_date"] > as_of} & active[o.campaign])
        for o in outcomes
    )  # fmt: skip
    # the hydra's exchange precision: campaign_exchanges of the campaign-days it is the majority of
    hydra_ids = cd.where(F.col("planted") == HYDRA).select("event_date", "campaign_id")
    hx = (
        c.lake.read(tables.CAMPAIGN_EXCHANGES)
        .join(hydra_ids, ["event_date", "campaign_id"])
        .select("request_id")
        .distinct()
        .join(tx.select("request_id", "is_campaign_traffic").dropDuplicates(["request_id"]), "request_id", "left")
        .agg(F.count("*").alias("n"), F.sum(F.coalesce(F.col("is_campaign_traffic"), F.lit(False)).cast("long")).alias("ok"))
        .first()
    )  # fmt: skip
    per_campaign = {
        o.campaign: {
            "days_active": o.days_active,
            "days_found": o.days_found,
            "days_right_actor": o.days_right_before + o.days_right_after,
            "actors_named": list(o.actors_named),
        }
        for o in outcomes
    }
    all_days = ev.ALL_DAYS
    return {
        "campaign_day_recall": days_found / days_active if days_active else None,
        "campaign_days_active": days_active,
        "campaign_days_found": days_found,
        "campaign_day_recall_after_training": after_found / after_active if after_active else None,
        "actor_accuracy": right / days_found if days_found else None,
        "account_precision": acc.get(all_days, {}).get("account_precision"),
        "account_recall": acc.get(all_days, {}).get("account_recall"),
        "exchange_precision": exc.get(all_days, {}).get("exchange_precision"),
        "exchange_recall": exc.get(all_days, {}).get("exchange_recall"),
        "hydra_exchange_precision": (hx["ok"] / hx["n"]) if hx["n"] else None,
        "hydra_exchanges": int(hx["n"] or 0),
        "mostly_legitimate_campaign_days": sum(1 for r in cdays if r["purity"] < ev.MOSTLY_LEGITIMATE),
        "campaign_days_detected": len(cdays),
        "pivot": [
            {
                "model": p.model,
                "released_at": str(p.released_at),
                "pivoting": list(p.pivoting),
                "first_flagged": {k: str(v) for k, v in p.first_flagged.items()},
                "within_24h": p.within_24h,
            }
            for p in pivots
        ],
        "per_campaign": per_campaign,
    }


# --- the section ---------------------------------------------------------------------------


def _f(v: Any) -> str:
    return "-" if v is None else f"{float(v):.3f}"


def _pivot(m: dict[str, Any]) -> str:
    if not m["pivot"]:
        return "-"
    p = m["pivot"][0]
    if not p["pivoting"]:
        return "no campaign pivoted"
    flagged = ", ".join(sorted(set(p["first_flagged"].values()))) or "not flagged"
    return f"{flagged} ({'within 24 h' if p['within_24h'] else 'late' if p['within_24h'] is False else 'undecided'})"


def kind_of(m: dict[str, Any]) -> str:
    """Which section a world belongs to: its prompt kind, ``-warm`` when it started from another
    world's champion (``run --warm-from``)."""
    return prompts_of(m) + ("-warm" if m.get("warm_from") else "")


def _suffix(kind: str) -> str:
    """What a kind adds to the names of its markers and plot (nothing for ``templates``, the first section)."""
    tag = kind.removeprefix("templates").removeprefix("-")
    return f"-{tag}" if tag else ""


def markers(kind: str) -> tuple[str, str]:
    """The doc markers of a kind's section (:func:`kind_of`)."""
    return f"<!-- robustness{_suffix(kind)} begin -->", f"<!-- robustness{_suffix(kind)} end -->"


def mix_plot(kind: str) -> str:
    """The mix sweep plot's file name under ``docs/img``."""
    return f"robustness-mix{_suffix(kind)}.png"


def prompts_of(m: dict[str, Any]) -> str:
    """The prompt kind of a world's metrics (worlds measured before the option: templates)."""
    return str(m["world"].get("prompts", "templates"))


def section(results: dict[str, dict[str, Any]]) -> str:
    first = next(iter(results.values()))
    prompts, kind, warm = prompts_of(first), kind_of(first), first.get("warm_from")
    real = prompts == "real"
    expected = [c for c in DEFAULT_CONFIGS if not (real and c in TEXT_EVASIONS)]
    plain = results.get("plain")
    base = plain["campaign_day_recall"] if plain else None
    header = ["world", "campaign-day recall", "drop vs plain", "recall after training", "actor accuracy",
              "account precision", "account recall", "hydra exchange precision", "benign-majority campaign-days",
              "release pivot flagged", "target"]  # fmt: skip
    rows = []
    misses = []
    order = (
        [c for c in expected if c in results]
        + sorted(c for c in results if "+" in c)
        + sorted(c for c in results if c.startswith("mix-"))
    )
    for name in order:
        m = results[name]
        drop = None if base is None or m["campaign_day_recall"] is None else base - m["campaign_day_recall"]
        why = []
        if name != "plain" and drop is not None:
            limit = MAX_DROP_ALL if len(switches_of(name, prompts)) > 1 else MAX_DROP_SINGLE
            if drop > limit + 1e-9:
                why.append(f"recall drop {drop * 100:.1f} pts > {limit * 100:.0f}")
        if m["account_precision"] is not None and m["account_precision"] < MIN_ACCOUNT_PRECISION:
            why.append(f"account precision < {MIN_ACCOUNT_PRECISION}")
        if m["mostly_legitimate_campaign_days"]:
            why.append("benign-majority campaign")
        # the hydra's resold share: swept, the default share of a world with mix among its
        # switches, or the plain world's (~0.3) without mix; the target covers up to 0.7
        share = _resold(name)
        if share is None and "mix" in switches_of(name, prompts):
            share = DEFAULT_RESOLD_SHARE
        hp = m["hydra_exchange_precision"]
        if (share is None or share <= HYDRA_PRECISION_UP_TO + 1e-9) and (hp is None or hp < MIN_HYDRA_PRECISION):
            why.append(f"hydra precision < {MIN_HYDRA_PRECISION}")
        if why:
            misses.append(name)
        rows.append([
            f"`{name}`", f"{_f(m['campaign_day_recall'])} ({m['campaign_days_found']}/{m['campaign_days_active']})",
            "-" if drop is None or name == "plain" else f"{drop * 100:.1f} pts",
            _f(m["campaign_day_recall_after_training"]), _f(m["actor_accuracy"]), _f(m["account_precision"]),
            _f(m["account_recall"]), _f(m["hydra_exchange_precision"]), m["mostly_legitimate_campaign_days"],
            _pivot(m), "met" if not why else "MISSED: " + "; ".join(why),
        ])  # fmt: skip
    w = next(iter(results.values()))
    world = w["world"]
    snap = sorted({code_of(m) for m in results.values()})
    when = sorted({m["measured_at"][:10] for m in results.values()})
    text = "real public prompts, `--prompts real`" if real else "templates"
    together = (
        "every switch but `paraphrase` and `drift`, which rewrite templates" if real else "all together"
    )
    begin, end = markers(kind)
    title = "## Robustness to campaigns that adapt" + (", on real public prompts" if real else "")
    lines = [begin, title + (", with a detector trained before they adapted" if warm else ""), ""]
    if warm:
        lines += [
            f"Each world below starts with a champion already registered: the model `train --as-of "
            f"{warm['as_of']}` fits, with the code the world runs, on another world's lakehouse "
            f"(`{Path(warm['world']).name}` of seed {warm['seed']}, processed at code {warm['code']}), whose "
            "campaigns had not adapted (`bench.robustness run --warm-from`). "
            "It scores from the first day; the world's own retrain replaces it only if it does better on "
            "that retrain's holdout. This is the provider's position when a campaign it has caught comes "
            "back changed; the cold-start sections earlier on this page have no model before the first retrain.",
            "",
        ]
    lines += [
        f"Measured {', '.join(when)} at code {', '.join(snap)} by `python -m bench.robustness"
        f"{' run --prompts real' if real else ''}` (2 cores): the same "
        f"world ({text}, {world['days']} days at scale {world['scale']}, seed {world['seed']}) with each evasion "
        f"switch of `simulate --evasion` alone and {together} (`all`), run through the CLI as a scheduler runs it "
        f"(backfill, `train --as-of` day {world['train_after']}, backfill). Drop: campaign-day recall lost against "
        "`plain`, in points. Targets: at most 5 points lost under one switch, 10 under `all`; account precision "
        ">= 0.98; no benign-majority campaign-day; hydra exchange precision >= 0.95 up to a resold share of 0.7.",
        "",
        ev._md(header, rows),
        "",
    ]
    if plain is None:
        lines += ["No `plain` world in this section: the drop is not computed.", ""]
    if plain:
        camps = sorted(plain["per_campaign"])
        per = [
            "Days found of days active, per planted campaign (right actor in brackets):",
            "",
            ev._md(
                ["world", *camps],
                [
                    [
                        f"`{n}`",
                        *(
                            (
                                lambda p: (
                                    f"{p['days_found']}/{p['days_active']} ({p['days_right_actor']})"
                                    if p
                                    else "-"
                                )
                            )(results[n]["per_campaign"].get(cp))
                            for cp in camps
                        ),
                    ]
                    for n in order
                ],
            ),  # fmt: skip
            "",
        ]
        lines += per
    sweep = sorted((s, results[n]) for n in results if (s := _resold(n)) is not None)
    if len(sweep) >= 2:
        lines += [
            f"![campaign-day recall and hydra exchange precision against resold share](img/{mix_plot(kind)})",
            "",
        ]
    missing = [c for c in expected if c not in results]
    if missing:
        lines += [f"Not measured at this code version: {', '.join(f'`{c}`' for c in missing)}.", ""]
    if misses:
        lines += [
            f"Targets missed: {', '.join(f'`{n}`' for n in misses)} (the target column says which and by how much).",
            "",
        ]
    lines.append(end)
    return "\n".join(lines)


def _resold(name: str) -> float | None:
    if name.startswith("mix-"):
        return float(name.split("-", 1)[1])
    if name == "mix":
        return DEFAULT_RESOLD_SHARE
    return None


def plot_mix(results: dict[str, dict[str, Any]], out: Path) -> Path | None:
    sweep = sorted((s, results[n]) for n in results if (s := _resold(n)) is not None)
    if len(sweep) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [s for s, _ in sweep]
    for key, label in (("campaign_day_recall", "campaign-day recall"), ("hydra_exchange_precision", "hydra exchange precision"), ("account_precision", "account precision")):  # fmt: skip
        ax.plot(
            xs, [m[key] if m[key] is not None else float("nan") for _, m in sweep], marker="o", label=label
        )
    ax.axhline(MIN_HYDRA_PRECISION, linestyle="--", color="grey", label="target hydra precision 0.95")
    ax.axvline(HYDRA_PRECISION_UP_TO, linestyle=":", color="grey")
    ax.set_xlabel("hydra's resold share of its traffic")
    ax.set_ylim(0, 1.05)
    ax.set_title("mix sweep: detection against the hydra's resold share")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def place(doc: str, body: str, begin: str = BEGIN, end: str = END) -> str:
    """``doc`` with the section between ``begin`` and ``end`` replaced by ``body`` (which
    carries the markers), or ``body`` appended when the markers are not there yet."""
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        return head + body + rest.split(end, 1)[1]
    return doc.rstrip("\n") + "\n\n" + body + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--configs", default=",".join(DEFAULT_CONFIGS))
    r.add_argument(
        "--mix-sweep", default="", help="resold shares, e.g. 0.1,0.3,0.5,0.9 (adds mix-<share> worlds)"
    )
    r.add_argument("--prompts", choices=("templates", "real"), default="templates")
    r.add_argument("--days", type=int, default=6)
    r.add_argument("--scale", type=float, default=0.005)
    r.add_argument("--seed", type=int, default=7)
    r.add_argument("--train-after", type=int, default=4)
    r.add_argument("--snapshot", help="run the code committed at REV (bench.scheduled_run --snapshot)")
    r.add_argument("--force", action="store_true")
    r.add_argument(
        "--warm-from",
        metavar="DIR",
        help="a world folder of an earlier run (another seed's plain world): its model is the champion from day 1",
    )
    t = sub.add_parser("table")
    t.add_argument("--out", required=True)
    t.add_argument("--doc", default=str(REPO / "docs" / "evaluation.md"))
    a = p.parse_args()
    out = Path(a.out)
    if a.cmd == "run":
        configs = [c for c in a.configs.split(",") if c] + [f"mix-{s}" for s in a.mix_sweep.split(",") if s]
        for config in configs:
            done = out / config / "metrics.json"
            if done.is_file() and not a.force:
                print(f"{config}: done before ({done})")
                continue
            m = run_config(config, out, a)
            print(
                f"{config}: campaign-day recall {_f(m['campaign_day_recall'])}, account precision "
                f"{_f(m['account_precision'])}, hydra precision {_f(m['hydra_exchange_precision'])} "
                f"({m['seconds']['pipeline']:.0f}s)",
                flush=True,
            )
        return
    results = {f.parent.name: json.loads(f.read_text()) for f in sorted(out.glob("*/metrics.json"))}
    if not results:
        raise SystemExit(f"no metrics.json under {out}")
    doc = Path(a.doc)
    for kind in sorted({kind_of(m) for m in results.values()}):
        worlds = {n: m for n, m in results.items() if kind_of(m) == kind}
        plot_mix(worlds, doc.parent / "img" / mix_plot(kind))
        doc.write_text(place(doc.read_text(), section(worlds), *markers(kind)))
        print(f"wrote the robustness section of {kind} worlds ({len(worlds)}) into {doc}")


if __name__ == "__main__":
    main()
