"""Alert rules as data: the kinds, the label keys and the validated rule dataclasses."""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from typing import Final

from armorwatch.jobs.errors import JobsError
from armorwatch.parsers import schema as S

KINDS: Final = (
    "threshold",
    "spike",
    "first_seen",
    "sensitive",
    "profile_change",
    "loss",
    "deadman",
    "forged",
)
# Keys an alert may carry and rules may group or roll up by.
LABEL_KEYS: Final = (S.HOST, S.PROFILE, S.CLASS, "object", "kind", S.SOURCE, "change")
ROLLUP_KEYS: Final = (S.HOST, S.PROFILE, S.CLASS)
SEVERITIES: Final = ("critical", "warning", "info")
DEFAULT_RULES: Final = "alert_rules.toml"


class AlertError(JobsError, ValueError):
    """An alert rule is invalid; the message names the rule and the key."""


@dataclass(frozen=True)
class AlertRule:
    """One alert rule (a ``[[rule]]`` table of the rules file)."""

    name: str
    """Unique name, shown in every alert of the rule."""
    kind: str
    """threshold | spike | first_seen | sensitive | profile_change | loss | deadman | forged."""
    severity: str = "warning"
    """critical | warning | info."""
    window_s: float = 300.0
    """Length of the evaluation window, seconds."""
    min_count: int = 1
    """Fewest events (denials, accesses, lost records) in the window that fire."""
    by: tuple[str, ...] = ()
    """threshold/spike: keys to count by, among host, profile, class (empty: all three)."""
    baseline_s: float = 21_600.0
    """spike: length of the baseline before the window, seconds."""
    factor: float = 10.0
    """spike: how many times the baseline rate the window rate must reach."""
    loss_kinds: tuple[str, ...] = ()
    """loss: LOSS_* kinds that fire (empty: every kind)."""
    silence_s: float = 600.0
    """deadman: a host silent this long fires."""
    lookback_s: float = 7 * 86_400.0
    """deadman: hosts silent for longer than this are forgotten (decommissioned)."""
    kernel_only: bool = False
    """Ignore userspace-origin records (USER_AVC text any CAP_AUDIT_WRITE process can forge)."""
    group_by: tuple[str, ...] | None = None
    """Override of the file-wide group_by for this rule's alerts."""
    enabled: bool = True
    """False keeps the rule in the file without evaluating it."""

    def __post_init__(self) -> None:
        where = f"rule {self.name!r}"
        if self.kind not in KINDS:
            raise AlertError(f"{where}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.severity not in SEVERITIES:
            raise AlertError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        for key in self.by:
            if key not in ROLLUP_KEYS:
                raise AlertError(f"{where}: by {key!r} is not one of {', '.join(ROLLUP_KEYS)}")
        for key in self.group_by or ():
            if key not in LABEL_KEYS:
                raise AlertError(f"{where}: group_by {key!r} is not one of {LABEL_KEYS}")
        for name in ("window_s", "baseline_s", "silence_s", "lookback_s", "factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise AlertError(f"{where}: {name} must be a positive number")
        if self.min_count < 1:
            raise AlertError(f"{where}: min_count must be >= 1")


@dataclass(frozen=True)
class AlertRules:
    """A rules file: grouping settings and the rules."""

    rule: tuple[AlertRule, ...] = ()
    """The rules, in evaluation order."""
    group_by: tuple[str, ...] = (S.HOST, S.PROFILE)
    """Alerts with equal values of these labels form one group and one notification."""
    group_interval_s: float = 300.0
    """Least time between notifications of a group when new alerts join it."""
    repeat_interval_s: float = 14_400.0
    """Least time between notifications of a group whose alerts keep firing unchanged."""

    def __post_init__(self) -> None:
        names = [r.name for r in self.rule]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise AlertError(f"duplicate rule name(s): {', '.join(dup)}")
        for key in self.group_by:
            if key not in LABEL_KEYS:
                raise AlertError(f"group_by {key!r} is not one of {LABEL_KEYS}")
        if self.group_interval_s < 0 or self.repeat_interval_s <= 0:
            raise AlertError("group_interval_s must be >= 0 and repeat_interval_s > 0")

    @property
    def enabled(self) -> tuple[AlertRule, ...]:
        """The rules to evaluate."""
        return tuple(r for r in self.rule if r.enabled)


def default_rules_text() -> str:
    """The TOML text of the bundled default rules."""
    return resources.files("armorwatch.jobs").joinpath(DEFAULT_RULES).read_text("utf-8")
