"""``distillwatch simulate --out DIR``: write a synthetic world (``distillwatch.simulate.writer``).

``DIR/landing/`` follows the landing contract, ``DIR/truth/`` holds the ground truth.
Defaults: ``distillwatch.simulate.settings`` (``conf/simulate/world.yaml``). ``--evasion``
switches the campaigns' evasions on (``distillwatch.simulate.evasion``).
"""

from __future__ import annotations

import argparse

from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.simulate.evasion import EVASIONS, parse_switches
from distillwatch.simulate.settings import load_settings
from distillwatch.simulate.world import PROMPT_MODES
from distillwatch.simulate.writer import simulate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="world folder: writes OUT/landing and OUT/truth")
    parser.add_argument("--start", help="first day, YYYY-MM-DD (default: conf/simulate/world.yaml start)")
    parser.add_argument("--days", type=int, help="number of days (default: conf/simulate/world.yaml days)")
    parser.add_argument(
        "--scale",
        type=float,
        help="1.0 is about 1M exchanges a day (default: conf/simulate/world.yaml scale)",
    )
    parser.add_argument("--seed", type=int, help="random seed (default: conf/simulate/world.yaml seed)")
    parser.add_argument(
        "--prompts",
        choices=PROMPT_MODES,
        default="templates",
        help="prompt text: the project's template banks (default, quick) or real public texts "
        "read from pinned PyPI wheels (conf/simulate/corpora.yaml)",
    )
    parser.add_argument(
        "--evasion",
        help="comma-separated evasion switches of the campaigns: "
        f"{', '.join(EVASIONS)}, or all (default: conf/simulate/world.yaml evasion, none)",
    )
    parser.add_argument(
        "--resold-share",
        type=float,
        help="with --evasion mix: the hydra's resold share of its traffic, 0-1 (default: conf/simulate/world.yaml)",
    )
    parser.add_argument(
        "--corpus-cache",
        help="folder of the pinned wheels for --prompts real (default: .cache/corpora); missing ones are fetched",
    )


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    evasion = getattr(args, "evasion", None)
    settings = load_settings().override(
        start=args.start,
        days=args.days,
        scale=args.scale,
        seed=args.seed,
        evasion=parse_switches(evasion) if evasion is not None else None,
        resold_share=getattr(args, "resold_share", None),
    )
    written = simulate(
        ctx.spark,
        args.out,
        settings,
        prompts=getattr(args, "prompts", None) or "templates",
        corpus_cache=getattr(args, "corpus_cache", None),
    )
    emit(written.summary())
    return 0
