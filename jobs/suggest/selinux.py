"""audit2allow-style SELinux allow rules from the rows of ``sql/suggest_selinux.sql``, and
audit2why's question for them: which boolean of a policy would allow the denial
(``why``, through Debian's ``python3-setools``, what ``sesearch --allow`` runs)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from armorwatch.jobs.suggest.evidence import EvidenceAcc
from armorwatch.jobs.suggest.model import SELinuxSuggestion, SuggestResult


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


# --- audit2why: which boolean would allow a denial --------------------------------------

SETOOLS_PYTHON: Final = Path("/usr/bin/python3")
"""Debian's ``python3-setools`` (package ``setools``, which ships ``sesearch``) is installed
for the system interpreter, not for the project's venv (the PyPI ``setools`` is another
project), so the policy is queried in a child process of that interpreter."""

_SELINUX_CONFIG: Final = Path("/etc/selinux/config")
_LOADED_POLICY: Final = Path("/sys/fs/selinux/policy")
_QUERY_TIMEOUT: Final = 300.0  # loading a policy takes ~1 s; a bound, not an estimate

# Runs under /usr/bin/python3: reads [{source, target, tclass, perms}] as JSON on stdin and
# prints, per query and permission, the allow rules that grant it (what sesearch --allow
# -s -t -c -p finds, attributes included) with, for a conditional rule, the fewest boolean
# changes from the policy's current values that turn it on ({} when it is on already).
_HELPER: Final = r"""
import json, sys
import setools
from setools.exception import RuleNotConditional
pol = setools.SELinuxPolicy(sys.argv[1])
state = {str(b): bool(b.state) for b in pol.bools()}
types = {str(t) for t in pol.types()}
queries = json.load(sys.stdin)
out = [{} for _ in queries]
by_class = {}  # tclass -> [(index, source names, target names)]
for i, q in enumerate(queries):
    try:
        pol.lookup_class(q["tclass"])
        ends = []
        for t in (q["source"], q["target"]):
            ty = pol.lookup_type(t)
            ends.append({t} | {str(a) for a in ty.attributes()})
    except Exception as exc:  # a type or class this policy does not know
        out[i] = {p: {"error": f"{type(exc).__name__}: {exc}"} for p in q["perms"]}
        continue
    out[i] = {p: {"rules": []} for p in q["perms"]}
    by_class.setdefault(q["tclass"], []).append((i, ends[0], ends[1]))
# One pass over the allow rules (sesearch --allow -s -t -c -p for every query at once,
# attributes included): ~1 s for Debian's default policy, however many queries.
for r in pol.terules():
    if r.ruletype != setools.TERuletype.allow:
        continue
    cands = by_class.get(str(r.tclass))
    if not cands:
        continue
    src, tgt = str(r.source), str(r.target)
    for i, srcs, tgts in cands:
        if src not in srcs or tgt not in tgts:
            continue
        perms = {str(p) for p in r.perms}
        hit = [p for p in out[i] if p in perms]
        if not hit:
            continue
        item = {"rule": str(r), "attribute": src not in types or tgt not in types}
        try:
            cond = r.conditional
        except RuleNotConditional:
            item["set"] = {}
        else:
            # the fewest boolean changes from the policy's values that turn the rule on
            best = None
            for row in cond.truth_table():
                if row.result != r.conditional_block:
                    continue
                change = {k: v for k, v in row.values.items() if state.get(k) != v}
                if best is None or len(change) < len(best):
                    best = change
            if best is None:
                continue  # no setting turns this rule on
            item["set"] = best
        for p in hit:
            out[i][p]["rules"].append(item)
json.dump({"policy": sys.argv[1], "results": out}, sys.stdout)
"""


@dataclass(frozen=True)
class BooleanFix:
    """Boolean settings that turn on a conditional rule granting the denied access."""

    booleans: dict[str, bool]
    """Boolean → value it needs (only those that differ from the policy's values)."""
    rules: list[str]
    """The conditional rules (as sesearch prints them) these settings turn on."""

    @property
    def command(self) -> str:
        """``setsebool -P NAME 1`` (``NAME=1 OTHER=0`` for several)."""
        items = sorted(self.booleans.items())
        if len(items) == 1:
            return f"setsebool -P {items[0][0]} {int(items[0][1])}"
        return "setsebool -P " + " ".join(f"{k}={int(v)}" for k, v in items)


@dataclass(frozen=True)
class Why:
    """audit2why's answer for one suggested allow rule."""

    rule: str
    """The suggested ``allow`` rule."""
    verdict: str
    """``boolean`` (a boolean would allow it), ``missing`` (no rule, the allow rule is
    needed), ``allowed`` (the policy already allows it: a constraint, MLS or another
    policy version denied it) or ``unknown`` (the policy does not know a type/class)."""
    fixes: list[BooleanFix]
    """With ``boolean``: alternatives, narrowest first (each alone allows the access)."""
    detail: str
    """One sentence for the reader."""

    def lines(self) -> list[str]:
        """The answer as text lines (``setsebool`` commands first)."""
        return [f"{f.command}  # turns on: {'; '.join(f.rules)}" for f in self.fixes] + [
            self.detail]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"rule": self.rule, "verdict": self.verdict, "detail": self.detail,
                "booleans": [{"command": f.command, "set": f.booleans, "rules": f.rules}
                             for f in self.fixes]}


class SELinuxPolicyError(Exception):
    """The policy could not be queried (the message says why, in one line)."""


def default_policy() -> Path | None:
    """The loaded policy, else the newest installed ``policy.N`` of the configured type."""
    if _LOADED_POLICY.is_file():
        return _LOADED_POLICY
    kind = "default"
    try:
        for line in _SELINUX_CONFIG.read_text("utf-8", "replace").splitlines():
            key, _, value = line.strip().partition("=")
            if key.strip() == "SELINUXTYPE" and value.strip():
                kind = value.strip()
    except FileNotFoundError:
        pass  # no config: Debian's default type
    found = sorted(Path("/etc/selinux", kind, "policy").glob("policy.[0-9]*"),
                   key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else -1)
    return found[-1] if found else None


def unavailable(policy: Path | None) -> str | None:
    """Why booleans cannot be looked up (one line), or None when they can."""
    if policy is None:
        return ("SELinux booleans not checked: no SELinux policy installed or loaded "
                "(give --selinux-policy FILE, or apt-get install selinux-policy-default)")
    if not policy.is_file():
        return f"SELinux booleans not checked: no policy file {policy}"
    if shutil.which("sesearch") is None or not SETOOLS_PYTHON.is_file():
        return ("SELinux booleans not checked: sesearch is not installed "
                "(apt-get install setools)")
    return None


def _verdict(s: SELinuxSuggestion, per: dict[str, Any]) -> Why:
    """Combine the per-permission answers of one rule into audit2why's verdict."""
    errors = [v["error"] for v in per.values() if "error" in v]
    if errors:
        return Why(s.rule, "unknown", [], f"the policy cannot answer: {errors[0]}")
    on = {p for p, v in per.items() if any(not r["set"] for r in v["rules"])}
    if on == set(s.perms):
        rule = next(r["rule"] for v in per.values() for r in v["rules"] if not r["set"])
        return Why(s.rule, "allowed", [], (
            f"the policy already allows it ({rule}): a constraint or MLS rule denied it, "
            "or the denying host runs another policy or boolean setting"))
    missing = [p for p in s.perms if p not in on]
    # Candidate settings: each conditional rule's; one is kept when, together with the
    # rules already on, it turns on a rule for every missing permission.
    cands: dict[tuple[tuple[str, bool], ...], list[str]] = {}
    attr: dict[tuple[tuple[str, bool], ...], bool] = {}
    for p in missing:
        for r in per[p]["rules"]:
            if r["set"]:
                key = tuple(sorted(r["set"].items()))
                cands.setdefault(key, [])
                attr[key] = attr.get(key, True) and r["attribute"]
    fixes = []
    for key in cands:
        have = dict(key)
        rules = []
        for p in missing:
            ok = [r["rule"] for r in per[p]["rules"] if r["set"] and all(
                have.get(k) == v for k, v in r["set"].items())]
            if not ok:
                break
            rules += [x for x in ok if x not in rules]
        else:
            fixes.append((attr[key], len(key), BooleanFix(dict(key), rules)))
    fixes.sort(key=lambda f: (f[0], f[1], f[2].command))
    if fixes:
        return Why(s.rule, "boolean", [f[2] for f in fixes], (
            f"a boolean would allow it: {fixes[0][2].command}" if len(fixes) == 1 else
            "any one of these boolean settings would allow it (narrowest first)")
            + "; the allow rule is then not needed")
    return Why(s.rule, "missing", [], (
        f"no boolean allows {' '.join(missing)}: the allow rule is needed (audit2allow)"))


def why(items: list[SELinuxSuggestion], policy: Path) -> list[Why]:
    """audit2why for each rule against ``policy`` (one child process for all of them).

    Raises ``SELinuxPolicyError`` when the policy cannot be queried; call
    ``unavailable`` first to tell a missing tool or policy apart."""
    if not items:
        return []
    queries = [{"source": s.source_type, "target": s.target_type, "tclass": s.tclass,
                "perms": s.perms} for s in items]
    try:
        proc = subprocess.run(
            [str(SETOOLS_PYTHON), "-I", "-c", _HELPER, str(policy)],
            input=json.dumps(queries), capture_output=True, text=True,
            timeout=_QUERY_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SELinuxPolicyError(f"SELinux booleans not checked: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise SELinuxPolicyError(
            f"SELinux booleans not checked: querying {policy} failed: {last}")
    try:
        results = json.loads(proc.stdout)["results"]
        return [_verdict(s, per) for s, per in zip(items, results, strict=True)]
    except (ValueError, KeyError, TypeError) as exc:  # not the helper's answer
        raise SELinuxPolicyError(
            f"SELinux booleans not checked: unexpected answer from setools: {exc}") from None


def lookup(items: list[SELinuxSuggestion], policy: Path | None = None) -> list[Why] | str:
    """audit2why for ``items`` against ``policy`` (default: ``default_policy()``), or the
    one line that says why it cannot be had (no policy, no sesearch, a failed query)."""
    policy = policy or default_policy()
    reason = unavailable(policy)
    if reason is not None or policy is None:
        return reason or "SELinux booleans not checked: no SELinux policy"
    try:
        return why(items, policy)
    except SELinuxPolicyError as exc:
        return str(exc)


def with_why(result: SuggestResult, policy: Path | None = None) -> SuggestResult:
    """``result`` with audit2why's answer on each SELinux rule (``why``), or with the one
    line saying why there is none (``selinux_note``); unchanged without SELinux rules."""
    if not result.selinux:
        return result
    got = lookup(result.selinux, policy)
    if isinstance(got, str):
        return replace(result, selinux_note=got)
    return replace(result, selinux=[replace(s, why=w.to_dict())
                                    for s, w in zip(result.selinux, got, strict=True)])
