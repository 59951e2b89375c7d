"""Alertmanager-style grouping: which alerts make one notification, and when it is due."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from armorwatch.jobs.alerts.messages import Alert, Notification
from armorwatch.jobs.alerts.rules import SEVERITIES, AlertRules
from armorwatch.jobs.alerts.state import AlertState


def _message_id(key: str, seq: int) -> str:
    """Notification ``seq`` of the group ``key``: stable across restarts (``webhook-id``)."""
    gid = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"aw_{gid}_{seq}"


class Grouper:
    """Alertmanager-style grouping: group_by keys, group interval, repeat interval."""

    def __init__(self, rules: AlertRules, state: AlertState) -> None:
        self._rules = rules
        self._by_rule = {r.name: r.group_by for r in rules.rule}
        self._state = state
        self.suppressed = 0
        """Group firings suppressed (a counter for the metrics endpoint)."""

    def _group_of(self, alert: Alert) -> tuple[str, dict[str, str]]:
        keys = self._by_rule.get(alert.rule) or self._rules.group_by
        group = {k: alert.labels.get(k, "") for k in keys}
        key = json.dumps(sorted(group.items()), ensure_ascii=False)
        return key, group

    def plan(
        self, alerts: Iterable[Alert], now: float, evaluated: Iterable[str] | None = None
    ) -> list[tuple[str, Notification]]:
        """The notifications due now (not yet recorded; call ``commit`` after hand-off).

        ``evaluated``: the rules this evaluation ran. A group notified as firing whose rules
        were all evaluated and none fires now gets a "resolved" notification (as
        Alertmanager sends); None (one-shot runs) resolves nothing.
        """
        groups: dict[str, tuple[dict[str, str], dict[str, Alert]]] = {}
        for alert in alerts:
            key, group = self._group_of(alert)
            groups.setdefault(key, (group, {}))[1].setdefault(alert.fingerprint, alert)
        out = []
        for key, (group, members) in sorted(groups.items()):
            prev = self._state.group(key)
            fps = set(members)
            if prev is None:
                seq, suppressed = 1, 0
            else:
                last_seq, last, notified, suppressed = prev
                age = now - last
                new = bool(fps - notified)
                due = (new and age >= self._rules.group_interval_s) or (
                    age >= self._rules.repeat_interval_s
                )
                if not due:
                    self._state.suppress(key)
                    self.suppressed += 1
                    continue
                seq = last_seq + 1
            ordered = sorted(
                members.values(), key=lambda a: (SEVERITIES.index(a.severity), a.rule, a.summary)
            )
            note = Notification(_message_id(key, seq), group, tuple(ordered), suppressed, now)
            out.append((key, note))
        ran = set(evaluated) if evaluated is not None else set()
        for key, seq, rules in self._state.firing_groups() if ran else ():
            if key in groups or not set(rules) <= ran:
                continue
            group = dict(json.loads(key))
            note = Notification(
                _message_id(key, seq + 1), group, (), 0, now, "resolved", tuple(rules)
            )
            out.append((key, note))
        return out

    def commit(self, key: str, notification: Notification) -> None:
        """Record a notification as handed off (after the outbox accepted it)."""
        seq = int(notification.id.rsplit("_", 1)[1])
        self._state.notified(
            key,
            seq,
            notification.created,
            (a.fingerprint for a in notification.alerts),
            (a.rule for a in notification.alerts),
        )
