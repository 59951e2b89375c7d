"""audit2why for AppArmor: why one record was denied and what would allow it.

``explain(record, result, policy, similar)`` puts together, for one stored (or pasted)
record: its profile(s) and where the installed policy defines them (``jobs.installed``),
the installed allow or ``deny`` rules that match the access (as written), the rule
``jobs.suggest`` would propose for it with its status, risk and severity rank, the
abstractions that also allow it, the SELinux allow rule for an SELinux record, and how
many stored records show the same access (``sql/suggest_similar.sql``).

``result`` is ``jobs.suggest.suggest`` run on a store holding only this record (the CLI
re-parses the record's byte-exact raw line into a scratch store), so the rule is exactly
what ``armorwatch suggest`` would write for it.
"""

from __future__ import annotations

from typing import Any

from jobs import apparmor_rules as R
from jobs import suggest as SG
from jobs.abstractions import Policy
from jobs.installed import Installed
from jobs.suggest.evidence import iso_utc
from parsers import sanitize


def _installed_rules(blk: Any, sug: SG.Suggestion) -> tuple[list[str], list[str]]:
    """(allow rules, deny rules) of an installed block that match ``sug``'s access."""
    if blk is None:
        return [], []
    if sug.kind == R.FILE:
        perms, owner = sug.perms, sug.owner
        allow = sorted({t for p in sug.paths for t in blk.allow.file_rules(p, perms, owner)})
        deny = sorted({t for p in sug.paths for t in blk.deny.file_rules(p, perms, owner)})
        return allow, deny
    if sug.kind == R.CAPABILITY:
        cap = sug.rule.removeprefix("capability ").rstrip(",")
        return ([f"capability {cap},"] if cap in blk.allow.caps else [],
                [f"deny capability {cap},"] if cap in blk.deny.caps else [])
    if sug.kind == R.NETWORK:
        words = sug.rule.rstrip(",").split()[1:]
        words = [w for w in words if not w.startswith("(")]  # access list, if any
        if len(words) >= 2:
            fam, typ = words[0], words[1]

            def rules(ab: Any, prefix: str) -> list[str]:
                return [f"{prefix}network {' '.join(w for w in (f, t) if w)},"
                        for f, t in sorted(ab.networks) if f in ("", fam) and t in ("", typ)]
            return rules(blk.allow, ""), rules(blk.deny, "deny ")
    return [], []


def explain(
    record: dict[str, Any],
    result: SG.SuggestResult,
    policy: Policy,
    similar: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The explanation of one record (JSON-able; see the module docstring)."""
    installed = Installed.load(policy)
    profiles = []
    for ps in result.profiles:
        blk = None if ps.namespace else installed.find(ps.path)
        top = None if ps.namespace else installed.top(ps.path[0])
        rules = []
        for sug in ps.rules:
            allow, deny = _installed_rules(blk, sug)
            rules.append({
                "rule": sug.rule,
                "status": sug.status,
                "emitted": sug.emitted,
                "why_not": sug.known or sug.covered_by,
                "risky": sug.risky,
                "severity": sug.severity,
                "notes": sug.notes,
                "abstractions": sug.abstractions,
                "installed_allow": allow,
                "installed_deny": deny,
                "narrowest": sug.raw,
            })
        profiles.append({
            "profile": ps.profile,
            "installed_file": str(top.file) if top else None,
            "installed_block": blk is not None,
            "local_file": ps.local_file,
            "notes": ps.notes,
            "rules": rules,
            "skipped": ps.skipped,
        })
    rec = {k: record.get(k) for k in ("rid", "host", "source", "lsm", "apparmor", "seresult",
                                       "profile", "operation", "class", "name", "capname",
                                       "denied_mask", "comm", "pid", "suspect")}
    rec["ts"] = iso_utc(record.get("ts"))
    if similar is not None:
        similar = {**similar, "first_seen": iso_utc(similar.get("first_seen")),
                   "last_seen": iso_utc(similar.get("last_seen"))}
    return {
        "record": rec,
        "profiles": profiles,
        "selinux": [s.rule for s in result.selinux],
        "similar": similar,
        "parser": result.parser,
    }


def render_text(ex: dict[str, Any]) -> str:
    """A terminal rendering of ``explain``'s result (log text sanitised)."""
    t = sanitize.for_terminal
    r = ex["record"]
    obj = r["name"] or r["capname"] or ""
    decision = r["apparmor"] or r["seresult"] or ""
    out = [
        f"record {r['rid']}: {t(str(r['host']))} {r['ts']} {r['lsm']} {decision}",
        f"  {t(str(r['profile']))}: {r['operation']} {r['class']} {t(obj)} "
        f"mask {r['denied_mask'] or '-'} (comm {t(str(r['comm']))}, pid {r['pid']})",
    ]
    if r["suspect"]:
        out.append(f"  FORGED-LOOKING: {t(r['suspect'])}: never used for a rule")
    for p in ex["profiles"]:
        out.append("")
        where = (f"installed in {p['installed_file']}" if p["installed_file"]
                 else "no installed profile of that name or attachment on this host")
        if p["installed_file"] and not p["installed_block"]:
            where += " (without this hat/child block)"
        out.append(f"profile {t(p['profile'])}: {where}; local file local/{p['local_file']}")
        for n in p["notes"]:
            out.append(f"  note: {t(n)}")
        for rule in p["rules"]:
            for d in rule["installed_deny"]:
                out.append(f"  explicitly denied by the installed rule: {t(d)}")
            for a in rule["installed_allow"]:
                out.append(f"  allowed by the installed rule: {t(a)} (the denying host may "
                           "run an older policy)")
            if not rule["installed_allow"] and not rule["installed_deny"]:
                out.append("  no installed rule allows it")
            state = "would be written" if rule["emitted"] else \
                f"written commented out ({t(rule['why_not'] or rule['status'])})"
            out.append(f"  rule that would allow it: {t(rule['rule'])}  [{state}]")
            if rule["risky"]:
                out.append(f"  risk: {rule['risky']['severity']}: {rule['risky']['reason']}")
            if rule["severity"] is not None:
                out.append(f"  severity: {rule['severity']}/10 (severity.db)")
            if rule["abstractions"]:
                out.append("  also allowed by: " + ", ".join(
                    f"<abstractions/{a}>" for a in rule["abstractions"][:8]))
            out += [f"  note: {t(n)}" for n in rule["notes"]]
        for sk in p["skipped"]:
            out.append(f"  no rule: {t(sk['reason'])}")
    for se in ex["selinux"]:
        out.append(f"SELinux: {se}")
    s = ex["similar"]
    if s is not None:
        out.append("")
        out.append(f"similar stored events: {s['events']} on {s['hosts']} host(s) "
                   f"({', '.join(t(h) for h in s['some_hosts'] or [])}), "
                   f"{s['first_seen']} – {s['last_seen']}"
                   + (f"; {s['suspect']} forged-looking" if s["suspect"] else ""))
    return "\n".join(out) + "\n"
