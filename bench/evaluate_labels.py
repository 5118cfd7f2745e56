"""Measure silver's content labels (intent flags, capability, lang) on real public text.

    .venv/bin/python -m bench.evaluate_labels [--per-source 300] [--per-family 300] \
        [--patterns v1=conf/patterns/v1.yaml --patterns v2=conf/patterns/v2.yaml] \
        [--write-doc docs/evaluation.md]

Two samples, both labelled by :func:`pipelines.silver.add_content` (the function the silver
build labels a day with: one label per distinct prompt, joined back) under each pattern set:

- **plain texts**: up to ``--per-source`` texts of every corpus source of
  ``distillwatch.simulate.corpora`` (real public texts read out of pinned PyPI wheels), each
  with the language, capability and intent a human gives every text of its source;
- **world prompts**: up to ``--per-family`` prompts of every family of the real-text world
  (``conf/simulate/real_prompts.yaml``), rendered as the world renders them: the
  campaigns' instructions around benchmark questions, the evaluation labs' harness formats
  and judge templates, the enterprise and SaaS wrappers, and legitimate users' own short
  prefixes and suffixes. Their intent is the family's (:data:`FAMILY_INTENT`), their
  capability the text's source's unless the wrapper sets the task
  (:data:`FAMILY_CAPABILITY`, :data:`UNSCORED_CAPABILITY`).

Request shape is left out (no tools, no image): these are the text rules alone; in traffic
tools offered or an image decide first (``pipelines.intent.shape_capability``).

The first ``--patterns`` set is "before", the last "after"; a set is ``LABEL=PATH`` or
``LABEL=REV:PATH`` (the file at a git revision). With ``--write-doc`` the report becomes the
section between ``<!-- labels-on-real-text begin -->`` and ``<!-- labels-on-real-text end -->``
of that file (added at its end the first time); nothing else in the file is touched. Every
figure is computed here.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import logging
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from distillwatch.config import load_config, repo_conf_dir
from distillwatch.console import emit
from distillwatch.jobs.features import minhash_spec
from distillwatch.pipelines.intent import CAPABILITIES, INTENT_FLAGS, Patterns
from distillwatch.pipelines.silver import add_content
from distillwatch.simulate.corpora import CorpusItem, load_conf, load_corpora
from distillwatch.spark import build_spark

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- labels-on-real-text begin -->", "<!-- labels-on-real-text end -->"

# The intent each family of the real-text world sends (conf/simulate/real_prompts.yaml);
# every other family sends none. The labs' judge templates are rubric grading whoever sends them.
FAMILY_INTENT: dict[str, str] = {
    "a_reasoning": "cot_elicitation",
    "b_reasoning": "cot_elicitation",
    "a_rubric": "rubric_grading",
    "eval_judge": "rubric_grading",
    "a_sensitive": "sensitive_rewrite",
}
# Asks for a worked derivation of a problem ("justify every step"), not for the model's own
# reasoning behind a given answer: whether that is CoT elicitation is a judgement call, so
# its flags are reported but not scored.
UNSCORED_INTENT = frozenset({"d_analysis"})
# Families whose wrapper sets the task, whatever the text is about. Grading a response is
# "other", the label corpora.yaml gives the labs' judge templates.
FAMILY_CAPABILITY: dict[str, str] = {
    "b_agentic": "agentic_tool_use",
    "b_vision": "vision_computer_use",
    "c_agentic_coding": "coding",
    "a_rubric": "other",
    "eval_judge": "other",
}
# Wrappers with tasks of their own that no single label fits (a politically safe rewrite of
# a question, a classification and summary, product copy or a translation per SaaS app).
UNSCORED_CAPABILITY = frozenset({"a_sensitive", "enterprise_batch", "saas_app"})
CAMPAIGN_PREFIXES = ("a_", "b_", "c_", "d_")
_ZH = "zh: "


@dataclass(frozen=True)
class Sample:
    """One text to label, with what a human says it is (None: not scored)."""

    group: str  # "humaneval" (a corpus source) or "family:a_reasoning" (a world family)
    text: str
    legitimate: bool
    lang: str | None
    capability: str | None
    intent: str | None  # the one intent flag it carries, or None
    intent_scored: bool = True


def _rank(seed: int, *parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in (seed, *parts)).encode()).hexdigest()


def _pick(seq: Sequence[Any], seed: int, *parts: object) -> Any:
    return seq[int(_rank(seed, *parts)[:12], 16) % len(seq)]


def plain_samples(corpora: dict[str, list[CorpusItem]], per_source: int, seed: int) -> list[Sample]:
    """Up to ``per_source`` texts of every source, a seeded pseudo-random choice."""
    out = []
    for source, items in corpora.items():
        chosen = sorted(items, key=lambda i: _rank(seed, i.source, i.item_id))[:per_source]
        for i in chosen:
            out.append(Sample(source, i.text, True, i.lang, i.capability, i.intent))
    return out


def _pool_items(
    corpora: dict[str, list[CorpusItem]], pool: dict[str, Any], max_chars: int
) -> list[CorpusItem]:
    """A pool's texts as the world keeps them (length and topic filters of realtext.plan_real)."""
    topics = pool.get("topics")
    return [
        i
        for s in pool["sources"]
        for i in corpora[s]
        if len(i.text) <= max_chars
        and (not topics or (i.topic is not None and any(re.fullmatch(_glob(t), i.topic) for t in topics)))
    ]


def _glob(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _weighted(weights: dict[str, int], seed: int, *parts: object) -> str:
    total = sum(weights.values())
    u = int(_rank(seed, *parts)[:12], 16) % total
    for name, w in weights.items():
        if u < w:
            return name
        u -= w
    raise AssertionError("unreachable")


def world_samples(
    corpora: dict[str, list[CorpusItem]], world: dict[str, Any], per_family: int, seed: int
) -> list[Sample]:
    """``per_family`` prompts of every family of the real-text world, rendered as it renders them."""
    max_chars = int(world["max_chars"])
    pools = {name: _pool_items(corpora, p, max_chars) for name, p in world["pools"].items()}
    out = []
    for fam, f in world["families"].items():
        wrappers = [str(w) for w in f.get("wrappers") or []]
        zh_wrappers = [w[len(_ZH) :] for w in wrappers if w.startswith(_ZH)]
        everyone = [w[len(_ZH) :] if w.startswith(_ZH) else w for w in wrappers]
        for n in range(per_family):
            item: CorpusItem = _pick(pools[_weighted(f["pools"], seed, fam, n, "pool")], seed, fam, n, "item")
            if f.get("fill"):  # a judge template: instruction and answer of another text
                filler: CorpusItem = _pick(
                    pools[_weighted(f["fill"]["pools"], seed, fam, n, "fpool")], seed, fam, n, "fill"
                )
                alt = _pick(world["judge_alternatives"], seed, fam, n, "alt")
                text = item.text.replace("{output_2}", alt).replace("{output_1}", filler.answer or "")
                text = text.replace("{instruction}", filler.text)
            elif everyone:
                choices = zh_wrappers if item.lang == "zh" and zh_wrappers else everyone
                wrapper = _pick(choices, seed, fam, n, "wrap")
                text = wrapper.replace("{ANSWER}", item.answer or "").replace("{TEXT}", item.text)
            elif f.get("vary"):
                pre = _pick(world["prefixes"].get(item.lang) or world["prefixes"]["en"], seed, fam, n, "pre")
                suf = _pick(world["suffixes"].get(item.lang) or world["suffixes"]["en"], seed, fam, n, "suf")
                v = int(_rank(seed, fam, n, "vary")[:8], 16) / 16**8
                text = item.text if v < 0.5 else pre + item.text if v < 0.75 else item.text + suf
                text = pre + item.text + suf if v >= 0.9 else text
            else:
                text = item.text
            capability = (
                None
                if fam in UNSCORED_CAPABILITY
                else FAMILY_CAPABILITY.get(fam, load_conf().sources[item.source].capability)
            )
            # a legitimate user's own text keeps its source's intent (a judge template sent as is)
            intent = FAMILY_INTENT.get(fam, item.intent if f.get("vary") and not everyone else None)
            out.append(
                Sample(
                    f"family:{fam}",
                    text,
                    not fam.startswith(CAMPAIGN_PREFIXES),
                    item.lang if f.get("vary") and not everyone else None,
                    capability,
                    intent,
                    fam not in UNSCORED_INTENT,
                )
            )
    return out


def label(spark: Any, samples: Sequence[Sample], patterns: Patterns, spec: Any) -> list[dict[str, Any]]:
    """Labels of every sample, in order, from the silver build's own labelling."""
    rows = [(i, s.text, None, 0, 0, False) for i, s in enumerate(samples)]
    df = spark.createDataFrame(
        rows, "i int, prompt string, system_prompt string, n_tools int, tool_calls int, has_image boolean"
    )
    cols = ["i", *INTENT_FLAGS, "capability", "lang"]
    got = {r["i"]: r.asDict() for r in add_content(df, patterns, spec).select(*cols).collect()}
    return [got[i] for i in range(len(samples))]


# -- metrics ---------------------------------------------------------------------------------
def _share(hits: int, n: int, digits: int = 2) -> str:
    return "–" if n == 0 else f"{hits / n:.{digits}f}"


def _arrow(a: str, b: str) -> str:
    return a if a == b else f"{a} → {b}"


def _top(counter: Counter[str], n: int, k: int = 3) -> str:
    return ", ".join(f"{name} {c / n:.2f}" for name, c in counter.most_common(k)) if n else "–"


def _counts(counter: Counter[str], k: int = 4) -> str:
    return ", ".join(f"{name} {c}" for name, c in counter.most_common(k)) or "–"


@dataclass(frozen=True)
class FlagScore:
    positives: int
    caught: int
    negatives: int
    false_flags: int
    legit_negatives: int
    legit_false_flags: int

    @property
    def precision(self) -> str:
        return _share(self.caught, self.caught + self.false_flags, 3)

    @property
    def recall(self) -> str:
        return _share(self.caught, self.positives, 3)


def flag_score(samples: Sequence[Sample], labels: Sequence[dict[str, Any]], flag: str) -> FlagScore:
    scored = [(s, lab) for s, lab in zip(samples, labels, strict=True) if s.intent_scored]
    pos = [lab[flag] for s, lab in scored if s.intent == flag]
    neg = [lab[flag] for s, lab in scored if s.intent != flag]
    legit = [lab[flag] for s, lab in scored if s.intent != flag and s.legitimate]
    return FlagScore(len(pos), sum(pos), len(neg), sum(neg), len(legit), sum(legit))


def capability_accuracy(samples: Sequence[Sample], labels: Sequence[dict[str, Any]]) -> tuple[int, int]:
    pairs = [
        (s.capability, lab["capability"]) for s, lab in zip(samples, labels, strict=True) if s.capability
    ]
    return sum(a == b for a, b in pairs), len(pairs)


def _groups(samples: Sequence[Sample]) -> list[str]:
    return list(dict.fromkeys(s.group for s in samples))


def _rows(
    samples: Sequence[Sample], labels: Sequence[dict[str, Any]], group: str
) -> list[tuple[Sample, dict]]:
    return [(s, lab) for s, lab in zip(samples, labels, strict=True) if s.group == group]


# -- the report ------------------------------------------------------------------------------
def report(
    samples: Sequence[Sample],
    labelled: dict[str, list[dict[str, Any]]],
    meta: dict[str, str],
) -> str:
    """The markdown section: per source, per world family, per flag, the confusion matrix."""
    names = list(labelled)
    before, after = names[0], names[-1]
    b, a = labelled[before], labelled[after]
    plain = [s for s in samples if not s.group.startswith("family:")]
    lines = [
        BEGIN,
        f"## Labels on real text ({meta['date']})",
        "",
        f"Produced by `{meta['command']}` at commit {meta['commit']}: {len(plain)} public texts "
        f"({meta['per_source']} at most per corpus source of `distillwatch/simulate/corpora.py`; packages "
        f"{meta['packages']}) and {len(samples) - len(plain)} prompts of the real-text world "
        f"({meta['per_family']} per family of `conf/simulate/real_prompts.yaml`, rendered as the world "
        f"renders them), seed {meta['seed']}, labelled by `pipelines.silver.add_content` under each "
        f"pattern set. **{before}** is the first release's rules and word-rule `lang`; **{after}** the "
        f"current default. Text rules only: no tools or image offered (in traffic these decide "
        f"capability first). Truth: a plain text's source gives its language, capability and "
        f"intent; a world prompt's family gives its intent (reasoning extraction: CoT elicitation; "
        f"rubric grading and the labs' judge templates: rubric grading; safe rewrites: sensitive "
        f"rewrite; everything else none) and its capability is its text's source's unless the "
        f"wrapper sets the task (agent, screen and code-only wrappers; grading is `other`, the label "
        f"corpora.yaml gives the judge templates; the safe-rewrite, enterprise and SaaS wrappers are "
        f"not scored for capability). Pattern sets: {meta['sets']}.",
        *(
            [
                "",
                f"Intent gates of {after} (substring prefilters, `pipelines.intent.intent_flag`): flags "
                f"that differ when the gates are removed: {meta['gates']}.",
            ]
            if "gates" in meta
            else []
        ),
        "",
        f"### Intent flags ({before} → {after})",
        "",
        "| flag | positives | recall | false flags on legitimate texts | precision on this sample |",
        "|---|---:|---:|---:|---:|",
    ]
    for flag in INTENT_FLAGS:
        fb, fa = flag_score(samples, b, flag), flag_score(samples, a, flag)
        lines.append(
            f"| {flag} | {fa.positives} | {_arrow(fb.recall, fa.recall)} | "
            f"{_arrow(f'{fb.legit_false_flags}/{fb.legit_negatives}', f'{fa.legit_false_flags}/{fa.legit_negatives}')} | "
            f"{_arrow(fb.precision, fa.precision)} |"
        )
    hb, nb = capability_accuracy(samples, b)
    ha, na = capability_accuracy(samples, a)
    lpairs_b = [(s.lang, lab["lang"]) for s, lab in zip(samples, b, strict=True) if s.lang]
    lpairs_a = [(s.lang, lab["lang"]) for s, lab in zip(samples, a, strict=True) if s.lang]
    lines += [
        "",
        f"Capability accuracy over every scored text and prompt: {_arrow(_share(hb, nb, 3), _share(ha, na, 3))} "
        f"({na} scored). Language accuracy over texts of known language: "
        f"{_arrow(_share(sum(x == y for x, y in lpairs_b), len(lpairs_b), 3), _share(sum(x == y for x, y in lpairs_a), len(lpairs_a), 3))} "
        f"({len(lpairs_a)} texts).",
    ]
    if len(names) > 2:
        lines += ["", "Every pattern set, same samples:", "",
                  "| patterns | " + " | ".join(f"{f} recall / legit false flags" for f in INTENT_FLAGS)
                  + " | capability accuracy | lang accuracy |",
                  "|---|" + "---:|" * (len(INTENT_FLAGS) + 2)]  # fmt: skip
        for name in names:
            labs = labelled[name]
            cells = []
            for flag in INTENT_FLAGS:
                fs = flag_score(samples, labs, flag)
                cells.append(f"{fs.recall} / {fs.legit_false_flags}")
            h, n = capability_accuracy(samples, labs)
            lp = [(s.lang, lab["lang"]) for s, lab in zip(samples, labs, strict=True) if s.lang]
            lines.append(
                f"| {name} | " + " | ".join(cells) + f" | {_share(h, n, 3)} | "
                f"{_share(sum(x == y for x, y in lp), len(lp), 3)} |"
            )

    lines += [
        "",
        f"### Per corpus source (plain texts; {before} → {after})",
        "",
        "| source | n | lang | lang accuracy | capability | capability accuracy | "
        f"{after} labels it | intent | flagged (its flag, or any) |",
        "|---|---:|---|---:|---|---:|---|---|---:|",
    ]
    for group in _groups(plain):
        rb, ra = _rows(samples, b, group), _rows(samples, a, group)
        s0 = rb[0][0]
        n = len(ra)
        lacc = [_share(sum(s.lang == lab["lang"] for s, lab in rows), n) for rows in (rb, ra)]
        cacc = [_share(sum(s.capability == lab["capability"] for s, lab in rows), n) for rows in (rb, ra)]
        flagged = [_flagged(rows) for rows in (rb, ra)]
        lines.append(
            f"| {group} | {n} | {s0.lang} | {_arrow(*lacc)} | {s0.capability} | {_arrow(*cacc)} | "
            f"{_top(Counter(lab['capability'] for _, lab in ra), n)} | {s0.intent or '–'} | {_arrow(*flagged)} |"
        )
    lines += [
        "",
        "The languages each pattern set gives the texts of each language (counts of texts):",
        "",
        "| lang | n | " + f"{before} | {after} |",
        "|---|---:|---|---|",
    ]
    for code in sorted({s.lang for s in samples if s.lang}):
        rows_b = [lab["lang"] for s, lab in zip(samples, b, strict=True) if s.lang == code]
        rows_a = [lab["lang"] for s, lab in zip(samples, a, strict=True) if s.lang == code]
        lines.append(f"| {code} | {len(rows_a)} | {_counts(Counter(rows_b))} | {_counts(Counter(rows_a))} |")

    world = [g for g in _groups(samples) if g.startswith("family:")]
    lines += [
        "",
        f"### Per family of the real-text world (wrapped and varied prompts; {before} → {after})",
        "",
        "| family | n | sender | intent | cot_elicitation | rubric_grading | sensitive_rewrite | "
        f"capability accuracy | {after} labels it |",
        "|---|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for group in world:
        rb, ra = _rows(samples, b, group), _rows(samples, a, group)
        s0 = ra[0][0]
        n = len(ra)
        rates = [
            _arrow(_share(sum(lab[f] for _, lab in rb), n), _share(sum(lab[f] for _, lab in ra), n))
            for f in INTENT_FLAGS
        ]
        scored = [(s, lab) for s, lab in rb if s.capability], [(s, lab) for s, lab in ra if s.capability]
        cap_acc = _arrow(
            *[_share(sum(s.capability == lab["capability"] for s, lab in r), len(r)) for r in scored]
        )
        intent = (s0.intent or "none") if s0.intent_scored else "not scored"
        lines.append(
            f"| {group.removeprefix('family:')} | {n} | {'legitimate' if s0.legitimate else 'campaign'} | "
            f"{intent} | " + " | ".join(rates) + f" | {cap_acc if scored[1] else 'not scored'} | "
            f"{_top(Counter(lab['capability'] for _, lab in ra), n)} |"
        )
    extractor = [g for g in world if g.removeprefix("family:") in ("a_reasoning", "a_rubric", "a_sensitive")]
    if extractor:
        rows_b = [lab for g in extractor for _, lab in _rows(samples, b, g)]
        rows_a = [lab for g in extractor for _, lab in _rows(samples, a, g)]
        lines += [
            "",
            f"The reasoning extractor's three families together (equal samples; the world sends them "
            f"about 50/30/20): capability {before}: {_top(Counter(r['capability'] for r in rows_b), len(rows_b), 4)}; "
            f"{after}: {_top(Counter(r['capability'] for r in rows_a), len(rows_a), 4)}.",
        ]

    lines += [
        "",
        f"### Capability confusion, {after} (rows: truth, columns: label; every scored text and prompt)",
        "",
        "| truth \\ label | " + " | ".join(CAPABILITIES) + " |",
        "|---|" + "---:|" * len(CAPABILITIES),
    ]
    matrix = Counter(
        (s.capability, lab["capability"]) for s, lab in zip(samples, a, strict=True) if s.capability
    )
    for truth in CAPABILITIES:
        if any(matrix[(truth, c)] for c in CAPABILITIES):
            lines.append(
                f"| {truth} | " + " | ".join(str(matrix[(truth, c)] or "·") for c in CAPABILITIES) + " |"
            )
    lines += [
        "",
        "Reading the tables: BFCL's questions are tasks whose tools come with the request (in traffic "
        "`n_tools` decides agentic_tool_use before any text rule); as text, most read like everyday or "
        "arithmetic questions. corpora.yaml labels all of MMLU `other`, its mathematics and quantitative subjects "
        "included, which the rules call reasoning_math. The campaigns' wrappers are those of the "
        "template world (conf/simulate/prompts.yaml), which v1 was written against; the judge templates, "
        "the texts and the legitimate users' variations are new to it.",
        "",
        END,
    ]
    return "\n".join(lines) + "\n"


def _flagged(rows: Sequence[tuple[Sample, dict[str, Any]]]) -> str:
    n = len(rows)
    if rows and rows[0][0].intent:
        return _share(sum(lab[rows[0][0].intent] for _, lab in rows), n)
    return _share(sum(any(lab[f] for f in INTENT_FLAGS) for _, lab in rows), n)


def write_section(doc: Path, section: str) -> None:
    """Replace the section between the markers, or add it at the end of the document."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].removeprefix("\n")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text, encoding="utf-8")


# -- entry point -----------------------------------------------------------------------------
def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout


def _patterns(spec: str) -> tuple[str, Patterns]:
    label_, _, where = spec.partition("=")
    if not where:
        raise SystemExit(f"--patterns {spec!r}: expected LABEL=PATH or LABEL=REV:PATH")
    if ":" in where and not Path(where).exists():
        text = _git("show", where)
    else:
        text = (REPO / where).read_text(encoding="utf-8")
    return label_, Patterns.from_mapping(yaml.safe_load(text))


def _describe(spec: str) -> str:
    """``LABEL = PATH``, or for a file at a revision the commit's date and subject."""
    label_, _, where = spec.partition("=")
    if ":" in where and not Path(where).exists():
        rev, _, path = where.partition(":")
        commit = _git("log", "-1", "--format=%cs, %s", rev).strip()
        return f"{label_} = {path} at {rev} ({commit}), read by today's code"
    return f"{label_} = {where}"


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.evaluate_labels", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--per-source", type=int, default=300)
    parser.add_argument("--per-family", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--patterns", action="append", help="LABEL=PATH or LABEL=REV:PATH (repeat)")
    parser.add_argument("--corpus-cache", help="corpus wheel cache (default .cache/corpora)")
    parser.add_argument("--write-doc", type=Path, help="put the section into this markdown file")
    parser.add_argument(
        "--check-gates",
        action="store_true",
        help="also label with the last set's intent gates removed and count the flags that differ",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.WARNING)

    specs = args.patterns or ["v1=conf/patterns/v1.yaml", "v2=conf/patterns/v2.yaml"]
    sets = dict(_patterns(p) for p in specs)
    corpora = load_corpora(args.corpus_cache)
    world = yaml.safe_load((repo_conf_dir() / "simulate" / "real_prompts.yaml").read_text(encoding="utf-8"))
    samples = plain_samples(corpora, args.per_source, args.seed) + world_samples(
        corpora, world, args.per_family, args.seed
    )
    cfg = load_config("local")
    with tempfile.TemporaryDirectory(prefix="evaluate-labels-") as lake:
        spark = build_spark(cfg, lake, {"spark.ui.enabled": "false"})
        spec = minhash_spec(cfg.features)
        labelled = {name: label(spark, samples, p, spec) for name, p in sets.items()}
        gate_diffs = None
        if args.check_gates:
            last = list(sets.values())[-1]
            ungated = label(spark, samples, dataclasses.replace(last, intent_gates={}), spec)
            gated = list(labelled.values())[-1]
            gate_diffs = {
                f: sum(a[f] != b[f] for a, b in zip(gated, ungated, strict=True)) for f in INTENT_FLAGS
            }
        spark.stop()
    conf = load_conf()
    used = sorted({conf.sources[s].package for s in corpora})
    cmd = [
        "python -m bench.evaluate_labels",
        f"--per-source {args.per_source}",
        f"--per-family {args.per_family}",
    ]
    cmd += [f"--patterns {p}" for p in args.patterns or []]
    cmd += ["--check-gates"] if args.check_gates else []
    meta = {
        "date": dt.date.today().isoformat(),
        "commit": _commit(),
        "command": " ".join(cmd),
        "per_source": str(args.per_source),
        "per_family": str(args.per_family),
        "seed": str(args.seed),
        "sets": "; ".join(_describe(p) for p in specs),
        "packages": ", ".join(f"{n}=={conf.packages[n].version}" for n in used),
    }
    if gate_diffs is not None:
        meta["gates"] = ", ".join(f"{f} {n}" for f, n in gate_diffs.items())
    section = report(samples, labelled, meta)
    emit(section)
    if args.write_doc:
        write_section(args.write_doc, section)
    return 1 if gate_diffs and any(gate_diffs.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
