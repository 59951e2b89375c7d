"""What evaluation yields and what is delivered: ``Alert``, ``Notification`` and the
stable JSON message schema (``armorwatch.alert/1``) the webhook sink renders and signs."""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from armorwatch.jobs.alerts.rules import SEVERITIES, AlertRule
from armorwatch.parsers import schema as S

MESSAGE_SCHEMA: Final = "armorwatch.alert/1"


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Alert:
    """One firing rule for one set of labels. Strings are raw log text (escape to show)."""

    rule: str
    """Name of the rule that fired."""
    kind: str
    """The rule's kind."""
    severity: str
    """critical | warning | info."""
    labels: Mapping[str, str]
    """Identifying labels (host, profile, class, object, kind, source, change)."""
    count: int
    """Events behind the alert (denials, accesses, lost records; 0 for deadman)."""
    first_ms: int | None
    """First event, epoch milliseconds (event time)."""
    last_ms: int | None
    """Last event, epoch milliseconds (event time)."""
    summary: str
    """One line for humans, raw."""
    detail: Mapping[str, Any] = field(default_factory=dict)
    """Extra facts (reason, example object, baseline, ...), raw."""
    evidence: Mapping[str, Any] | None = None
    """The record behind a denial alert, looked up when it is notified
    (``jobs.alerts.evidence``): ``example`` (ts, pid, comm, exe, raw text) and
    ``suggested_rule``. Not part of the alert's identity."""

    @classmethod
    def of(
        cls,
        rule: AlertRule,
        labels: Mapping[str, str],
        *,
        count: int,
        first_ms: int | None,
        last_ms: int | None,
        summary: str,
        detail: Mapping[str, Any],
        severity: str | None = None,
    ) -> Alert:
        """The alert ``rule`` raises: what an alert takes from its rule is decided here only.

        ``severity`` overrides the rule's (a milder sensitive match, a doubtful dead-man).
        """
        return cls(
            rule=rule.name,
            kind=rule.kind,
            severity=severity or rule.severity,
            labels=labels,
            count=count,
            first_ms=first_ms,
            last_ms=last_ms,
            summary=summary,
            detail=detail,
        )

    @property
    def fingerprint(self) -> str:
        """Stable identity of (rule, labels): equal across evaluations and restarts."""
        text = json.dumps([self.rule, sorted(self.labels.items())], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    @property
    def investigate(self) -> str:
        """The ``armorwatch query`` command that shows the records behind this alert (the
        raw lines with pid, comm and exe): what on-call runs first. Shell-quoted."""
        lab = self.labels
        since = _iso(self.first_ms - 1 if self.first_ms is not None else None)
        until = _iso(self.last_ms)
        window = {"since": since, "until": until}
        if self.kind == "deadman":
            name, params = "silent-hosts", {}
        elif self.kind == "loss":
            name, params = "loss", {**window, "host": lab.get(S.HOST)}
        elif self.kind == "profile_change":
            name, params = "profile-changes", {"since": since, "host": lab.get(S.HOST)}
        else:
            name = "raw-lines"
            params = {
                **window,
                "host": lab.get(S.HOST),
                "profile": lab.get(S.PROFILE),
                "object": lab.get("object"),
                "forged": "yes" if self.kind == "forged" else None,
            }
        args = [f"--param {shlex.quote(f'{k}={v}')}" for k, v in params.items() if v]
        return " ".join(["armorwatch query", name, *args])

    def as_dict(self) -> dict[str, Any]:
        """The alert in the stable message schema (plain JSON types)."""
        return {
            "rule": self.rule,
            "kind": self.kind,
            "severity": self.severity,
            "labels": dict(self.labels),
            "count": self.count,
            "first_seen": _iso(self.first_ms),
            "last_seen": _iso(self.last_ms),
            "summary": self.summary,
            "detail": dict(self.detail),
            "fingerprint": self.fingerprint,
            "investigate": self.investigate,
            # who did it and the line as logged; the rule that would allow it
            "example": dict(self.evidence["example"]) if self.evidence else None,
            "suggested_rule": self.evidence.get("suggested_rule") if self.evidence else None,
        }


@dataclass(frozen=True)
class Notification:
    """One group's alerts, to be delivered as one message."""

    id: str
    """Message id (``webhook-id``): the group key's hash and its notification number."""
    group: Mapping[str, str]
    """The group_by labels and their values."""
    alerts: tuple[Alert, ...]
    """The group's alerts firing now."""
    suppressed: int
    """Firings of this group suppressed since its previous notification."""
    created: float
    """Wall-clock unix time the notification was made."""
    status: str = "firing"
    """firing | resolved (the group's alerts stopped firing; ``alerts`` is empty)."""
    resolved: tuple[str, ...] = ()
    """For a resolved notification: the rules that had fired in the group."""

    @property
    def severity(self) -> str:
        """The most severe alert's severity (info for a resolved notification)."""
        return min((a.severity for a in self.alerts), key=SEVERITIES.index, default="info")

    @property
    def summary(self) -> str:
        """One line for humans (raw text; escape for the target)."""
        where = " ".join(v for v in self.group.values() if v) or "fleet"
        if self.status == "resolved":
            return f"[resolved] {where}: {', '.join(self.resolved)} no longer firing"
        head = self.alerts[0].summary
        more = f" (+{len(self.alerts) - 1} more)" if len(self.alerts) > 1 else ""
        return f"[{self.severity}] {where}: {head}{more}"

    def as_message(self) -> dict[str, Any]:
        """The stable JSON-able message the webhook sink renders and signs."""
        return {
            "schema": MESSAGE_SCHEMA,
            "id": self.id,
            "status": self.status,
            "severity": self.severity,
            "created": datetime.fromtimestamp(self.created, UTC).isoformat(),
            "group": dict(self.group),
            "summary": self.summary,
            "suppressed": self.suppressed,
            "alerts": [a.as_dict() for a in self.alerts],
        }
