"""Alert rules over the denial stream, with Alertmanager-style grouping and suppression.

Rules are data (``jobs/alert_rules.toml`` holds the defaults; ``armorwatch.alerting``
loads a file into ``AlertRules``). Eight kinds, each backed by one ``jobs/sql/alert_*.sql``
job over the store's names (``denials``, ``complain_events``, ``loss``, ``records``, and
the TEMP views ``alert_profile_status`` / ``alert_forged`` of ``alert_store_views.sql``):

==============  ===============================================================
threshold       ≥ ``min_count`` denials per ``by`` keys (host/profile/class) in ``window_s``
spike           window rate ≥ ``factor`` × the rate of the preceding ``baseline_s``
first_seen      a denial signature (profile × class × normalised object) new fleet-wide
sensitive       a denial or complain-mode access that ``jobs.risky.match`` flags
profile_change  a profile unloaded, or switched from enforcing to complain mode
loss            counted loss: kernel ``lost``, collector blind, rotated away unread, …
deadman         a host that sent records before and has been silent for ``silence_s``
forged          records that claim the kernel but look written from userspace, per host
==============  ===============================================================

Only trustworthy records (``suspect IS NULL``, see ``parsers.schema.SUSPECT``) drive the
first seven kinds, the windows' end and the heartbeats: a ``logger -t kernel`` line or a
USER_AVC with ``class="file"`` must not raise "profile unloaded" or "sensitive access",
nor make a silent host look alive. Such records raise the ``forged`` alert instead.

Two ways to evaluate:

- ``evaluate(con, rules, until)`` over a DuckDB connection holding the store (the
  ``armorwatch alerts test`` path): windows end at ``until`` (default: the newest record).
- ``AlertEngine.observe(records, loss)`` over each newly stored Arrow batch (the
  processor's path): recent rows are kept in an in-memory DuckDB window and the same
  SQL jobs run over it; ``AlertEngine.tick()`` checks dead-man timers on wall-clock time.

Either way the alerts go through ``Grouper``: alerts sharing the values of the
``group_by`` keys (default host and profile) form one group and one notification.
A group is notified at once when first seen, again when a new alert joins it after
``group_interval_s``, and otherwise only every ``repeat_interval_s`` while it keeps
firing; everything else is counted as suppressed. So a ptrace loop denied 5,000 times
yields one notification. Group state, known signatures, host heartbeats and profile
modes live in a small SQLite file (``AlertState``) so suppression survives restarts.

Alert strings are raw log text; renderers escape them for their target with
``parsers.sanitize`` (the webhook sink for JSON/Slack, the CLI for the terminal).

Modules, one job each::

    rules       the rule dataclasses, their kinds and label keys, the bundled defaults
    messages    Alert and Notification, the stable message schema
    evaluators  one evaluator per kind: an alert_*.sql job's rows -> alerts
    store       evaluate() over a DuckDB store (one-shot)
    engine      AlertEngine: the continuous window over new batches, dead-man ticks
    grouping    Grouper: groups, group and repeat intervals, resolved notifications
    evidence    the record behind a notified denial alert: pid, comm, exe, raw, the rule
    state       AlertState: the SQLite file of what must survive a restart

Errors::

    AlertError (jobs.errors.JobsError, ValueError)  an invalid rule (unknown kind, bad
                                                    key, bad number)
    jobs.sqlfiles.SqlJobError                       a job file is missing or malformed
"""

from armorwatch.jobs.alerts.engine import AlertEngine, AlertEngineStats
from armorwatch.jobs.alerts.grouping import Grouper
from armorwatch.jobs.alerts.messages import MESSAGE_SCHEMA, Alert, Notification
from armorwatch.jobs.alerts.rules import (
    KINDS,
    LABEL_KEYS,
    ROLLUP_KEYS,
    SEVERITIES,
    AlertError,
    AlertRule,
    AlertRules,
    default_rules_text,
)
from armorwatch.jobs.alerts.state import AlertState
from armorwatch.jobs.alerts.store import evaluate, newest, only_hosts

__all__ = [
    "KINDS",
    "LABEL_KEYS",
    "MESSAGE_SCHEMA",
    "ROLLUP_KEYS",
    "SEVERITIES",
    "Alert",
    "AlertEngine",
    "AlertEngineStats",
    "AlertError",
    "AlertRule",
    "AlertRules",
    "AlertState",
    "Grouper",
    "Notification",
    "default_rules_text",
    "evaluate",
    "newest",
    "only_hosts",
]
