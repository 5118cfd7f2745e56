"""Indicator sharing in STIX 2.1, both ways, and which threat-intel listings count on a day.

- :func:`campaign_bundle` turns one campaign's indicators (rows of ``campaign_indicators``
  and its ``campaign_attribution_daily`` row, collected: a campaign has tens to hundreds of
  values) into a STIX 2.1 bundle built with the ``stix2`` library: our identity as creator,
  the campaign, its actor (``attributed-to``), one indicator per value with confidence,
  ``valid_from`` / ``valid_until`` and an ``indicates`` relationship;
- :func:`threat_intel_rows` reads a partner's bundle back into ``threat_intel`` rows, with
  the creator as ``source``, the indicator id as ``source_ref`` and its ``valid_until``;
- :func:`intel_in_force` keeps the listings that count on a day: an expired one does not.

Patterns are one comparison per value, spelled by :data:`PATTERNS` in both directions.
Ids are UUIDv5 of what they name, so exporting the same campaign-day twice gives the
same objects.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import stix2
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from stix2patterns.v21.pattern import Pattern

# ind_type -> (STIX object type, property path as STIX patterning writes it, quoted value)
PATTERNS: dict[str, tuple[str, str, bool]] = {
    "ip_prefix": ("ipv4-addr", "value", True),  # ipv6-addr for a value with a colon
    "asn": ("autonomous-system", "number", False),
    "payment_fp": ("x-distillwatch-payment", "fingerprint", True),
    "tls_fp": ("x-distillwatch-tls", "fingerprint", True),
    "user_agent": ("network-traffic", "extensions.'http-request-ext'.request_header.'User-Agent'", True),
    "email_domain": ("domain-name", "value", True),
    "template_hash": ("x-distillwatch-prompt", "template_hash", True),
}
# (object type, path parts as stix2patterns reports them) -> ind_type
_READ = {
    (obj, tuple(p.strip("'") for p in path.split("."))): kind for kind, (obj, path, _) in PATTERNS.items()
}
_READ[("ipv6-addr", ("value",))] = "ip_prefix"
_NAMESPACE = uuid.UUID("2f6a3c1e-3d0b-4b8e-9a57-6c1d1e0f5a10")


def _id(kind: str, *parts: object) -> str:
    return f"{kind}--{uuid.uuid5(_NAMESPACE, '|'.join(str(p) for p in parts))}"


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def stix_pattern(ind_type: str, value: str) -> str:
    """The STIX pattern of one indicator value (``[ipv4-addr:value = '10.0.0.0/24']``)."""
    obj, path, quoted = PATTERNS[ind_type]
    if ind_type == "ip_prefix" and ":" in value:
        obj = "ipv6-addr"
    literal = _quote(value) if quoted else str(int(value))
    return f"[{obj}:{path} = {literal}]"


def pattern_values(pattern: str) -> list[tuple[str, str]]:
    """(ind_type, value) of every equality comparison in ``pattern`` on a path we know;
    other comparisons (and operators) are ignored."""
    out = []
    for obj, comparisons in Pattern(pattern).inspect().comparisons.items():
        for path, op, literal in comparisons:
            kind = _READ.get((obj, tuple(str(p).strip("'") for p in path)))
            if kind is None or op != "=":
                continue
            text = str(literal)
            if len(text) >= 2 and text[0] == text[-1] == "'":
                text = text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
            out.append((kind, text))
    return out


def _confidence(value: float | None) -> int | None:
    return None if value is None else max(0, min(100, round(float(value) * 100)))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)


def campaign_bundle(
    campaign: Mapping[str, Any],
    indicators: Iterable[Mapping[str, Any]],
    identity_name: str,
    identity_class: str,
    valid_days: int,
) -> stix2.Bundle:
    """A STIX 2.1 bundle of one campaign-day.

    ``campaign`` is its ``campaign_attribution_daily`` row (campaign_id, event_date,
    first_seen, actor, confidence); ``indicators`` its (ind_type, ind_value, n_accounts)
    rows. Each indicator is valid from the campaign-day for ``valid_days`` days with the
    campaign's confidence; ``created`` is the end of the campaign-day, so the bundle is
    the same however often it is exported.
    """
    day: dt.date = campaign["event_date"]
    created = _midnight(day + dt.timedelta(days=1))
    identity = stix2.Identity(
        id=_id("identity", identity_name),
        name=identity_name,
        identity_class=identity_class,
        created=created,
        modified=created,
    )
    cid = str(campaign["campaign_id"])
    confidence = _confidence(campaign.get("confidence"))
    common: dict[str, Any] = {"created_by_ref": identity.id, "created": created, "modified": created}
    if confidence is not None:
        common["confidence"] = confidence
    first_seen = campaign.get("first_seen") or day
    stix_campaign = stix2.Campaign(
        id=_id("campaign", identity_name, cid),
        name=cid,
        first_seen=_midnight(first_seen),
        last_seen=created,
        **common,
    )
    objects: list[Any] = [identity, stix_campaign]
    actor = campaign.get("actor")
    if actor:
        threat_actor = stix2.ThreatActor(
            id=_id("threat-actor", identity_name, actor), name=str(actor), **common
        )
        objects += [
            threat_actor,
            stix2.Relationship(
                id=_id("relationship", stix_campaign.id, "attributed-to", threat_actor.id),
                relationship_type="attributed-to",
                source_ref=stix_campaign.id,
                target_ref=threat_actor.id,
                **common,
            ),
        ]
    for row in sorted(indicators, key=lambda r: (r["ind_type"], str(r["ind_value"]))):
        kind, value = str(row["ind_type"]), str(row["ind_value"])
        if kind not in PATTERNS:
            continue
        indicator = stix2.Indicator(
            id=_id("indicator", identity_name, cid, kind, value),
            name=f"{kind} of distillation campaign {cid}",
            description=f"used by {row.get('n_accounts', 0)} accounts of campaign {cid} on {day.isoformat()}",
            indicator_types=["malicious-activity"],
            pattern=stix_pattern(kind, value),
            pattern_type="stix",
            valid_from=_midnight(day),
            valid_until=_midnight(day + dt.timedelta(days=valid_days)),
            **common,
        )
        objects += [
            indicator,
            stix2.Relationship(
                id=_id("relationship", indicator.id, "indicates", stix_campaign.id),
                relationship_type="indicates",
                source_ref=indicator.id,
                target_ref=stix_campaign.id,
                **common,
            ),
        ]
    return stix2.Bundle(objects=objects, id=_id("bundle", identity_name, cid, day.isoformat()))


def _naive_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    ts = (
        value
        if isinstance(value, dt.datetime)
        else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    return ts.astimezone(dt.timezone.utc).replace(tzinfo=None) if ts.tzinfo else ts


def threat_intel_rows(bundle_text: str, default_confidence: float) -> list[tuple[Any, ...]]:
    """``threat_intel`` rows (contract order plus valid_until, source_ref) of one STIX
    bundle: one per value of each indicator that names an actor.

    The actor is the name of the threat actor or intrusion set the indicator indicates, or
    that the campaign it indicates is attributed to. ``source`` is ``stix:`` and the
    creator identity's name; ``first_seen`` the indicator's ``valid_from`` day. Revoked
    indicators and indicators without an actor are skipped.
    """
    data = json.loads(bundle_text)
    objects: Sequence[Mapping[str, Any]] = data.get("objects", []) if data.get("type") == "bundle" else [data]
    by_id = {o["id"]: o for o in objects if "id" in o}
    rels = [o for o in objects if o.get("type") == "relationship"]

    def actors_of(ref: str, depth: int = 0) -> list[str]:
        target = by_id.get(ref, {})
        if target.get("type") in ("threat-actor", "intrusion-set"):
            return [str(target["name"])]
        if depth > 1:
            return []
        wanted = ("attributed-to",) if target.get("type") == "campaign" else ("indicates", "attributed-to")
        out: list[str] = []
        for r in rels:
            if r.get("source_ref") == ref and r.get("relationship_type") in wanted:
                out += actors_of(r["target_ref"], depth + 1)
        return out

    rows: list[tuple[Any, ...]] = []
    for o in objects:
        if o.get("type") != "indicator" or o.get("revoked") or o.get("pattern_type", "stix") != "stix":
            continue
        creator = by_id.get(o.get("created_by_ref", ""), {}).get("name", "unknown")
        confidence = o.get("confidence")
        conf = default_confidence if confidence is None else float(confidence) / 100.0
        valid_from = _naive_utc(o.get("valid_from"))
        for actor in sorted(set(actors_of(o["id"]))):
            for kind, value in pattern_values(o["pattern"]):
                rows.append(
                    (
                        kind,
                        value,
                        actor,
                        f"stix:{creator}",
                        conf,
                        valid_from.date() if valid_from else None,
                        _naive_utc(o.get("valid_until")),
                        o["id"],
                    )
                )
    return rows


def intel_in_force(threat_intel: DataFrame, day: dt.date) -> DataFrame:
    """The listings of ``threat_intel`` that count on ``day``: an indicator whose
    ``valid_until`` is at or before the day's start has expired and stops counting (a
    table written before the column existed counts every listing)."""
    if "valid_until" not in threat_intel.columns:
        return threat_intel
    start = dt.datetime.combine(day, dt.time())
    return threat_intel.where(F.col("valid_until").isNull() | (F.col("valid_until") > F.lit(start)))
