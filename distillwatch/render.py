"""Rendering of the daily analyst report: the small, already collected campaign-level
rows (plain dicts) into one self-contained HTML page, plots as inline PNG.

Plain Python (matplotlib for the plots): no Spark here, nor anything of
``distillwatch.jobs``/``pipelines``/``models``. The rows come from the aggregations of
``distillwatch.pipelines.report``, collected by ``distillwatch.jobs.report``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from distillwatch.vocabulary import CAPABILITIES


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, as plain rows (dicts)."""

    day: dt.date
    campaigns: list[dict[str, Any]]
    history: list[dict[str, Any]]
    model_mix: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    dq: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # every expectation suite (conf/expectations): one a day did not validate is listed too
    suites: list[str] = field(default_factory=list)
    # campaigns of the day no analyst has confirmed or dismissed, the day's decisions, the
    # recommended actions (counts per action and the strongest accounts), impact per campaign
    pending: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    action_counts: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    impact: list[dict[str, Any]] = field(default_factory=list)


def _json(text: str | None) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def evidence_summary(row: Mapping[str, Any]) -> str:
    """The evidence of one campaign as short escaped HTML: signals, intel matches,
    shared infrastructure and top templates (hashes only)."""
    ev = _json(row.get("evidence"))
    infra = _json(row.get("shared_infrastructure"))
    parts = []
    signals = ev.get("signals") or []
    if signals:
        parts.append("<b>signals</b> " + html.escape(", ".join(map(str, signals))))
    intel = [
        f"{m.get('ind_type')}={m.get('value')} ({m.get('actor')}, {m.get('confidence')})"
        for m in (ev.get("matched_indicators") or [])[:3]
    ]
    if intel:
        parts.append("<b>intel</b> " + html.escape("; ".join(intel)))
    shared = [
        kind + ": " + ", ".join("{} ({})".format(v.get("value"), v.get("n_accounts")) for v in values[:2])
        for kind, values in (infra.items() if isinstance(infra, dict) else [])
        if isinstance(values, list)
    ]
    if shared:
        parts.append("<b>shared</b> " + html.escape("; ".join(shared)))
    tmpl = [str(t.get("template_hash")) for t in (ev.get("top_templates") or [])[:2]]
    if tmpl:
        parts.append("<b>templates</b> " + html.escape(", ".join(tmpl)))
    return "<br>".join(parts) or "&ndash;"


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _figure(width: float = 9.0, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def volume_plot(history: Sequence[Mapping[str, Any]], campaign_ids: Sequence[str]) -> str:
    """Exchanges per day of each listed campaign (lines), on a log scale: campaigns differ by
    orders of magnitude, and a linear axis flattens all but the largest onto zero."""
    fig, ax = _figure()
    for cid in campaign_ids:
        pts = sorted(
            (r["event_date"], r["n_exchanges"])
            for r in history
            if r["campaign_id"] == cid and r["n_exchanges"]
        )
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=cid)
    ax.set_title("Campaign volume (exchanges per day, log scale)")
    ax.set_ylabel("exchanges")
    if any(r["n_exchanges"] for r in history if r["campaign_id"] in campaign_ids):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if campaign_ids:
        ax.legend(fontsize=7, ncol=2)
    fig.autofmt_xdate()
    return _png(fig)


def capability_plot(campaigns: Sequence[Mapping[str, Any]]) -> str:
    """Capability mix of each campaign today (stacked horizontal bars of shares)."""
    fig, ax = _figure(height=max(2.0, 0.45 * len(campaigns) + 1.2))
    names = [str(c["campaign_id"]) for c in campaigns]
    mixes = [_json(c.get("capability_mix")) for c in campaigns]
    cmap = _colors(len(CAPABILITIES) + 1)
    left = [0.0] * len(campaigns)
    for i, cap in enumerate((*CAPABILITIES, "unknown")):
        shares = [float(m.get(cap, 0.0) or 0.0) for m in mixes]
        if any(shares):
            ax.barh(names, shares, left=left, label=cap, color=cmap[i])
            left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the campaign's exchanges")
    ax.set_title("Capability mix")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.invert_yaxis()
    return _png(fig)


def _colors(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def model_share_plot(
    model_mix: Sequence[Mapping[str, Any]],
    releases: Sequence[Mapping[str, Any]],
    campaigns: Sequence[Mapping[str, Any]],
) -> str:
    """Left: share of all campaign traffic per model per day with release dates marked
    (the pivot onto a new model). Right: each campaign's new-model share against the
    population's on the report day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    days = sorted({r["event_date"] for r in model_mix})
    models = sorted({str(r["model"]) for r in model_mix})
    totals = {d: sum(r["n_exchanges"] for r in model_mix if r["event_date"] == d) for d in days}
    bottom = [0.0] * len(days)
    for color, model in zip(_colors(len(models)), models, strict=True):
        share = [
            sum(r["n_exchanges"] for r in model_mix if r["event_date"] == d and str(r["model"]) == model)
            / max(totals[d], 1)
            for d in days
        ]
        ax.bar(days, share, bottom=bottom, label=model, color=color)
        bottom = [a + b for a, b in zip(bottom, share, strict=True)]
    for rel in releases:
        ts = rel["released_at"]
        ax.axvline(ts, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"{rel['model']} released", (ts, 1.02), fontsize=7, rotation=0, ha="center")
    ax.set_ylim(0, 1.1)
    ax.set_title("Campaign traffic by model" if days else "Campaign traffic by model (no data)")
    ax.set_ylabel("share of campaign exchanges")
    if models:
        ax.legend(fontsize=7, loc="lower left")
    for label in ax.get_xticklabels():
        label.set_rotation(30)
    names = [str(c["campaign_id"]) for c in campaigns]
    xs = list(range(len(names)))
    ours = [float(c.get("new_model_share") or 0.0) for c in campaigns]
    theirs = [float(c.get("population_new_model_share") or 0.0) for c in campaigns]
    # a share of 0 draws no bar: every bar is labelled with its value, and a panel with
    # nothing to draw says why instead of staying blank
    for offset, values, label in ((-0.2, ours, "campaign"), (0.2, theirs, "all traffic")):
        bars = bx.bar([x + offset for x in xs], values, 0.4, label=label)
        bx.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=7, padding=1)
    bx.set_xticks(xs, names, rotation=30, fontsize=7)
    bx.set_ylim(0, 1.1)
    bx.set_title("New-model share today (traffic to models released in the last hours)")
    if not campaigns:
        bx.text(0.5, 0.5, "no campaign today", ha="center", va="center", transform=bx.transAxes)
    elif not any(ours) and not any(theirs):
        bx.text(0.5, 0.6, "no traffic to a newly released model today", ha="center", va="center",
                transform=bx.transAxes, fontsize=9)  # fmt: skip
    if campaigns:
        bx.legend(fontsize=7)
    return _png(fig)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1350px}
h1{margin-bottom:4px} .sub{color:#666;margin-top:0}
.cards{display:flex;gap:12px;margin:16px 0} .card{border:1px solid #ddd;border-radius:6px;padding:10px 16px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;font-size:13px;margin:8px 0 20px} th,td{border:1px solid #ddd;padding:4px 8px;
vertical-align:top;text-align:left} th{background:#f4f4f4}
.ok{color:#1a7f37;font-weight:bold} .fail{color:#cf222e;font-weight:bold} .warn{color:#9a6700;font-weight:bold}
.note{color:#9a6700}
"""


def _dq_section(dq: Sequence[Mapping[str, Any]], suites: Sequence[str] = ()) -> tuple[str, str]:
    """(status word, HTML) of the day's data quality: one line per suite (a suite with no
    validation of the day says so), failures listed."""
    if not dq and not suites:
        return "no results", "<p class='note'>No data-quality results for this day.</p>"
    by_table: dict[str, list[Mapping[str, Any]]] = {}
    for r in dq:
        by_table.setdefault(str(r["table_name"]), []).append(r)
    rows, failures, worst = [], [], "passed" if dq else "no results"
    for table in sorted(set(suites) - set(by_table)):
        rows.append(
            f"<tr><td>{html.escape(table)}</td><td class='note'>not validated this day</td>"
            "<td>0</td><td>0</td><td>0</td><td></td></tr>"
        )
    for table, results in sorted(by_table.items()):
        crit = [r for r in results if not r["success"] and r["critical"]]
        warn = [r for r in results if not r["success"] and not r["critical"]]
        status = "failed" if crit else ("warnings" if warn else "passed")
        if status == "failed" or (status == "warnings" and worst == "passed"):
            worst = status
        cls = {"failed": "fail", "warnings": "warn", "passed": "ok"}[status]
        rows.append(
            f"<tr><td>{html.escape(table)}</td><td class='{cls}'>{status}</td><td>{len(results)}</td>"
            f"<td>{len(crit)}</td><td>{len(warn)}</td><td>{html.escape(str(results[0]['run_id']))}</td></tr>"
        )
        for r in crit + warn:
            failures.append(
                f"<tr><td>{html.escape(table)}</td><td>{html.escape(str(r['expectation']))}</td>"
                f"<td>{'critical' if r['critical'] else 'warning'}</td><td>{_fmt(r.get('observed_value'))}</td></tr>"
            )
    rows.sort()
    out = ("" if dq else "<p class='note'>No data-quality results for this day.</p>") + (
        "<table><tr><th>table</th><th>status</th><th>expectations</th><th>critical failed</th>"
        "<th>warnings</th><th>run</th></tr>" + "".join(rows) + "</table>"
    )
    if failures:
        out += (
            "<table><tr><th>table</th><th>failed expectation</th><th>severity</th><th>observed</th></tr>"
            + "".join(failures)
            + "</table>"
        )
    return worst, out


def _table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str], empty: str) -> str:
    if not rows:
        return f"<p>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{_fmt(', '.join(v) if isinstance(v := r.get(c), list) else v)}</td>" for c in cols)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _review_sections(data: ReportData) -> list[str]:
    """Impact, pending reviews, the day's decisions and the recommended actions."""
    return [
        "<h2 id='impact'>Impact</h2>",
        _table(
            data.impact,
            (
                "campaign_id",
                "n_exchanges",
                "input_tokens",
                "output_tokens",
                "total_exchanges",
                "total_input_tokens",
                "total_output_tokens",
            ),
            "No impact figures for this day.",
        ),  # fmt: skip
        "<h2 id='pending'>Waiting for review</h2>",
        _table(
            data.pending,
            ("campaign_id", "actor", "confidence", "status", "n_accounts", "n_exchanges"),
            "Every campaign of the day has been reviewed.",
        ),  # fmt: skip
        "<h2 id='decisions'>Decisions of the day</h2>",
        _table(
            data.decisions,
            (
                "decided_at",
                "analyst",
                "action",
                "campaign_id",
                "account_id",
                "other_account_id",
                "actor",
                "label",
                "revokes",
                "reason",
            ),
            "No decision recorded on this day.",
        ),  # fmt: skip
        "<h2 id='actions'>Recommended actions</h2>",
        _table(
            data.action_counts, ("action", "n_accounts", "collateral_exchanges"), "No action recommended."
        ),
        _table(
            data.actions,
            (
                "account_id",
                "action",
                "campaign_id",
                "actor",
                "score",
                "reason_codes",
                "campaign_exchanges",
                "collateral_exchanges",
            ),
            "",
        ),  # fmt: skip
    ]


def render_report(data: ReportData) -> str:
    """The whole page: summary cards, campaigns with actor, confidence and evidence,
    volume over time, capability mix, model share around releases, data quality."""
    camps = data.campaigns
    ids = [str(c["campaign_id"]) for c in camps]
    dq_word, dq_html = _dq_section(data.dq, data.suites)
    attributed = sum(1 for c in camps if c.get("actor"))
    cards = [
        ("campaigns", len(camps)),
        ("attributed", attributed),
        ("new today", sum(1 for c in camps if c.get("status") == "new")),
        ("release pivots", sum(1 for c in camps if c.get("release_pivot"))),
        ("exchanges", sum(int(c.get("n_exchanges") or 0) for c in camps)),
        ("pending review", len(data.pending)),
        ("decisions today", len(data.decisions)),
        (
            "suspensions",
            sum(int(r.get("n_accounts") or 0) for r in data.action_counts if r.get("action") == "suspend"),
        ),
        ("data quality", dq_word),
    ]
    rows = "".join(
        "<tr>"
        f"<td>{_fmt(c['campaign_id'])}</td><td>{_fmt(c.get('actor') or 'unattributed')}</td>"
        f"<td>{_fmt(c.get('confidence'))}</td><td>{_fmt(c.get('status'))}</td><td>{_fmt(c.get('first_seen'))}</td>"
        f"<td>{_fmt(c.get('n_accounts'))}</td><td>{_fmt(c.get('n_exchanges'))}</td>"
        f"<td>{_fmt(c.get('top_capability'))}</td><td>{_fmt(c.get('cot_share'))}</td>"
        f"<td>{'yes' if c.get('release_pivot') else 'no'}</td><td>{evidence_summary(c)}</td>"
        "</tr>"
        for c in camps
    )
    missing = (
        f"<p class='note'>Tables not available: {html.escape(', '.join(data.missing))}</p>"
        if data.missing
        else ""
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>distillwatch report {data.day.isoformat()}</title><style>{_CSS}</style></head><body>",
        f"<h1>Distillation campaigns &mdash; {data.day.isoformat()}</h1>",
        "<p class='sub'>distillwatch daily report. Aggregates only: no prompt text.</p>",
        missing,
        "<div class='cards'>"
        + "".join(f"<div class='card'>{html.escape(k)}<b>{html.escape(str(v))}</b></div>" for k, v in cards)
        + "</div>",
        "<h2 id='campaigns'>Campaigns</h2>",
        (
            "<table><tr><th>campaign</th><th>actor</th><th>confidence</th><th>status</th><th>first seen</th>"
            "<th>accounts</th><th>exchanges</th><th>top capability</th><th>CoT share</th><th>release pivot</th>"
            "<th>evidence</th></tr>" + rows + "</table>"
            if camps
            else "<p>No campaign detected on this day.</p>"
        ),
        "<h2 id='volume'>Volume over time</h2>",
        volume_plot(data.history, ids),
        "<h2 id='capabilities'>Capability mix</h2>",
        capability_plot(camps) if camps else "<p>No campaign.</p>",
        "<h2 id='models'>Model share around releases</h2>",
        model_share_plot(data.model_mix, data.releases, camps),
        *_review_sections(data),
        "<h2 id='quality'>Data quality</h2>",
        dq_html,
        "</body></html>",
    ]
    return "\n".join(parts)
