"""audit2allow-style SELinux allow rules from the rows of ``sql/suggest_selinux.sql``."""

from __future__ import annotations

import re
from typing import Any

from jobs.suggest.evidence import EvidenceAcc
from jobs.suggest.model import SELinuxSuggestion


def selinux_suggestions(rows: list[dict[str, Any]]) -> list[SELinuxSuggestion]:
    """One allow rule per row whose types, class and permissions are plain words;
    enforced denials first, then most evidence."""
    out = []
    for r in rows:
        perms = [p for p in (r["perms"] or []) if re.fullmatch(r"[a-z0-9_]+", p)]
        types_ok = all(
            re.fullmatch(r"[A-Za-z0-9_]+", r[k] or "") for k in ("source_type", "target_type")
        )
        if not perms or not types_ok or not re.fullmatch(r"[a-z0-9_]+", r["tclass"] or ""):
            continue
        body = perms[0] if len(perms) == 1 else "{ " + " ".join(perms) + " }"
        acc = EvidenceAcc()
        acc.add({**r, "decision": "permissive" if r["permissive"] else "denied",
                 "processes": [], "sample_keys": []})
        # audit2allow writes 'self' when a domain acts on its own type
        target = "self" if r["target_type"] == r["source_type"] else r["target_type"]
        out.append(
            SELinuxSuggestion(
                rule=f"allow {r['source_type']} {target}:{r['tclass']} {body};",
                source_type=r["source_type"],
                target_type=r["target_type"],
                tclass=r["tclass"],
                perms=perms,
                permissive=bool(r["permissive"]),
                evidence=acc.evidence(),
            )
        )
    out.sort(key=lambda s: (s.permissive, -len(s.evidence.hosts), -s.evidence.events, s.rule))
    return out
