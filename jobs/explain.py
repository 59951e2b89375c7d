"""audit2why for AppArmor: why one record was denied and what would allow it.

``explain(record, result, policy, similar)`` puts together, for one stored (or pasted)
record: its profile(s) and where the installed policy defines them (``jobs.installed``),
the installed allow or ``deny`` rules that match the access (as written), the rule
``jobs.suggest`` would propose for it with its status, risk and severity rank, the
abstractions that also allow it, for an SELinux record the allow rule and which boolean
would allow it instead (audit2why, ``jobs.suggest.selinux.why``), and how many stored
records show the same access (``sql/suggest_similar.sql``).

``result`` is ``jobs.suggest.suggest`` run on a store holding only this record (the CLI
re-parses the record's byte-exact raw line into a scratch store), so the rule is exactly
what ``armorwatch suggest`` would write for it.
"""

from __future__ import annotations

from typing import Any

from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs import suggest as SG
from armorwatch.jobs.abstractions import Abstraction, Policy
from armorwatch.jobs.installed import Block, Installed
from armorwatch.jobs.suggest.evidence import iso_utc
from armorwatch.jobs.suggest.selinux import Why
from armorwatch.parsers import sanitize


def _matching(ab: Abstraction, sug: SG.Suggestion, prefix: str) -> list[str]:
    """The rules of ``ab`` (as written) that match ``sug``'s access."""
    if sug.kind == R.FILE:
        return sorted({t for p in sug.paths for t in ab.file_rules(p, sug.perms, sug.owner)})
    if sug.kind == R.CAPABILITY:
        cap = sug.rule.removeprefix("capability ").rstrip(",")
        return [f"{prefix}capability {cap},"] if cap in ab.caps else []
    if sug.kind == R.NETWORK:
        words = sug.rule.rstrip(",").split()[1:]
        words = [w for w in words if not w.startswith("(")]  # access list, if any
        if len(words) >= 2:
            fam, typ = words[0], words[1]
            return [f"{prefix}network {' '.join(w for w in (f, t) if w)},"
                    for f, t in sorted(ab.networks) if f in ("", fam) and t in ("", typ)]
    return []


def _installed_rules(
    blk: Block | None, sug: SG.Suggestion,
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(allow rules, deny rules, rules of conditional branches not known to be taken) of an
    installed block that match ``sug``'s access; a taken branch's rules are in the first
    two, marked with their branch."""
    if blk is None:
        return [], [], []
    allow, deny = _matching(blk.allow, sug, ""), _matching(blk.deny, sug, "deny ")
    other: list[dict[str, Any]] = []
    for br in blk.branches:
        for is_deny, ab, out in ((False, br.allow, allow), (True, br.deny, deny)):
            for rule in _matching(ab, sug, "deny " if is_deny else ""):
                if br.taken:
                    if rule in out:  # there because the branch is taken: say which
                        out.remove(rule)
                    out.append(f"{rule}  (in '{br.condition}', taken)")
                else:
                    other.append({"rule": rule, "deny": is_deny, "branch": br.condition,
                                  "state": br.state})
    return allow, deny, other


def _selinux(result: SG.SuggestResult, whys: list[Why] | str | None) -> list[dict[str, Any]]:
    """The SELinux allow rules, each with audit2why's answer when there is one."""
    out = []
    for i, s in enumerate(result.selinux):
        d: dict[str, Any] = {"rule": s.rule, "source_type": s.source_type,
                             "target_type": s.target_type, "tclass": s.tclass,
                             "perms": s.perms}
        if isinstance(whys, list):
            d.update({k: v for k, v in whys[i].to_dict().items() if k != "rule"})
        out.append(d)
    return out


def explain(
    record: dict[str, Any],
    result: SG.SuggestResult,
    policy: Policy,
    similar: dict[str, Any] | None = None,
    selinux_why: list[Why] | str | None = None,
) -> dict[str, Any]:
    """The explanation of one record (JSON-able; see the module docstring).

    ``selinux_why``: audit2why's answer for each of ``result.selinux``, or the one-line
    reason it could not be had (no policy, no sesearch)."""
    installed = Installed.load(policy)
    profiles = []
    for ps in result.profiles:
        blk = None if ps.namespace else installed.find(ps.path)
        top = None if ps.namespace else installed.top(ps.path[0])
        rules = []
        for sug in ps.rules:
            allow, deny, conditional = _installed_rules(blk, sug)
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
                "installed_conditional": conditional,
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
        "selinux": _selinux(result, selinux_why),
        "selinux_note": selinux_why if isinstance(selinux_why, str) else None,
        "similar": similar,
        "parser": result.parser,
    }


def render_text(ex: dict[str, Any]) -> str:
    """A terminal rendering of ``explain``'s result (log text sanitised)."""
    t = sanitize.for_terminal
    r = ex["record"]
    obj = r["name"] or r["capname"] or ""
    decision = r["apparmor"] or r["seresult"] or ""
    out = [f"record {r['rid']}: {t(str(r['host']))} {r['ts']} {r['lsm']} {decision}"]
    if r["profile"] is None and ex["selinux"]:
        out += [f"  {se['source_type']} -> {se['target_type']}:{se['tclass']} "
                f"{{ {' '.join(se['perms'])} }} (comm {t(str(r['comm']))}, pid {r['pid']})"
                for se in ex["selinux"]]
    else:
        out.append(f"  {t(str(r['profile']))}: {r['operation']} {r['class']} {t(obj)} "
                   f"mask {r['denied_mask'] or '-'} (comm {t(str(r['comm']))}, "
                   f"pid {r['pid']})")
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
            for c in rule["installed_conditional"]:
                out.append(f"  {'denied' if c['deny'] else 'allowed'} only in the branch "
                           f"'{t(c['branch'])}' ({c['state']}): {t(c['rule'])}")
            if not rule["installed_allow"] and not rule["installed_deny"]:
                out.append("  no installed rule allows it" + (
                    " outside those branches" if rule["installed_conditional"] else ""))
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
        out.append("")
        out.append(f"SELinux allow rule that would allow it: {t(se['rule'])}")
        for b in se.get("booleans", []):
            out.append(f"  boolean: {t(b['command'])}  (turns on: {t('; '.join(b['rules']))})")
        if "detail" in se:
            out.append(f"  audit2why: {t(se['detail'])}")
    if ex["selinux"] and ex.get("selinux_note"):
        out.append(f"  {t(ex['selinux_note'])}")
    s = ex["similar"]
    if s is not None:
        out.append("")
        out.append(f"similar stored events: {s['events']} on {s['hosts']} host(s) "
                   f"({', '.join(t(h) for h in s['some_hosts'] or [])}), "
                   f"{s['first_seen']} – {s['last_seen']}"
                   + (f"; {s['suspect']} forged-looking" if s["suspect"] else ""))
    return "\n".join(out) + "\n"
