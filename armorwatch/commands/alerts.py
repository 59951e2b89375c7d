"""``armorwatch alerts``: list the alert rules, or evaluate them on demand over the store.

``alerts test`` opens the store read-only (also while a writer writes),
evaluates every enabled rule with windows ending at the newest record (or ``--until``),
groups the alerts exactly as the processor does (fresh suppression state, so every
group is shown once) and prints them. With ``--webhook URL`` it also delivers them
through ``WebhookSink`` (signed, retried, SSRF-guarded); ``--dry-run`` prints the
request bodies instead of sending. Every log-derived string is escaped for the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from armorwatch import logging as awlog
from armorwatch.alerting import load_rules, plan
from armorwatch.commands import COMMANDS, options
from armorwatch.config import ConfigError
from armorwatch.jobs.alerts import Notification, evidence, only_hosts
from armorwatch.parsers import sanitize
from armorwatch.sinks.duckdb import StoreNotFoundError, open_reader
from armorwatch.sinks.errors import SinkError
from armorwatch.sinks.webhook import PRESETS, WebhookConfig, WebhookSink, render


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``armorwatch alerts`` with its ``test`` and ``rules`` subcommands."""
    p = subparsers.add_parser(
        "alerts",
        help=COMMANDS["alerts"],
        description=(
            "Alert rules (thresholds, spikes, new denial signatures, sensitive accesses, "
            "profiles unloaded or switched to complain, lost records, silent hosts) are "
            "data in a TOML file; the processor evaluates them on every stored batch. "
            "These subcommands show them and run them once over the store."
        ),
    )
    sub = p.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: _usage(p))

    t = sub.add_parser(
        "test",
        help="evaluate the rules over the store now and print (or send) the alerts",
        description=(
            "Evaluate every enabled rule over the store, windows ending at the newest "
            "record (or --until), group the alerts as the processor would, and print "
            "them. With --webhook the notifications are also sent; --dry-run prints the "
            "request bodies instead. Exit 0 when everything was printed or delivered."
        ),
    )
    options.add_store(t)
    t.add_argument("--rules", type=Path, help="rules TOML file (default: the bundled rules)")
    t.add_argument("--until", help="ISO time the windows end at (default: the newest record)")
    t.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="evaluate only this host's records (repeatable, or NAME,NAME); the windows "
        "then end at its newest record",
    )
    t.add_argument("--webhook", metavar="URL", help="send the notifications to this URL")
    t.add_argument("--preset", choices=PRESETS, default="json", help="webhook body format")
    t.add_argument("--secret-file", type=Path, help="file holding the webhook signing secret")
    t.add_argument("--secret-env", metavar="VAR", help="environment variable holding the secret")
    t.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="CIDR",
        help="admit a non-public receiver network (repeatable), e.g. 127.0.0.1/32",
    )
    t.add_argument(
        "--state-dir",
        type=Path,
        help="webhook outbox directory (default: a temporary one, removed afterwards)",
    )
    t.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for delivery")
    t.add_argument("--dry-run", action="store_true", help="print request bodies, send nothing")
    awlog.add_arguments(t)
    t.set_defaults(func=run_test)

    r = sub.add_parser(
        "rules",
        help="list the alert rules",
        description="List the rules of a rules file (default: the bundled rules).",
    )
    r.add_argument("--rules", type=Path, help="rules TOML file (default: the bundled rules)")
    awlog.add_arguments(r)
    r.set_defaults(func=run_rules)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def _err(msg: str) -> None:
    print(f"armorwatch alerts: {sanitize.for_terminal(msg)}", file=sys.stderr)


def run_rules(args: argparse.Namespace) -> int:
    """Print one line per rule with its settings."""
    try:
        rules = load_rules(args.rules)
    except (ConfigError, OSError) as e:
        _err(str(e))
        return 2
    print(
        f"group_by={','.join(rules.group_by)} group_interval={rules.group_interval_s:g}s "
        f"repeat_interval={rules.repeat_interval_s:g}s"
    )
    for rule in rules.rule:
        print(sanitize.for_terminal(_describe(rule)))
    return 0


def _describe(rule: Any) -> str:
    parts = [f"{rule.name:<24} {rule.kind:<15} {rule.severity:<8}"]
    if rule.kind == "deadman":
        parts.append(f"silence={rule.silence_s:g}s")
    else:
        parts.append(f"window={rule.window_s:g}s")
    if rule.kind in ("threshold", "spike", "sensitive", "loss") and rule.min_count > 1:
        parts.append(f"min_count={rule.min_count}")
    if rule.kind == "spike":
        parts.append(f"factor={rule.factor:g} baseline={rule.baseline_s:g}s")
    if rule.by:
        parts.append(f"by={','.join(rule.by)}")
    if rule.loss_kinds:
        parts.append(f"kinds={','.join(rule.loss_kinds)}")
    if rule.kernel_only:
        parts.append("kernel_only")
    if not rule.enabled:
        parts.append("(disabled)")
    return " ".join(parts)


def print_notification(n: Notification, file: Any = None) -> None:
    """Human form of one notification, escaped for the terminal."""
    esc = sanitize.for_terminal
    print(esc(n.summary), file=file)
    for a in n.alerts:
        when = a.as_dict()["last_seen"] or "-"
        print(f"  {a.severity:<8} {esc(a.rule):<22} {esc(a.summary)}  (last {when})", file=file)
        print(f"           investigate: {esc(a.investigate)}", file=file)
        ex = a.as_dict()["example"]
        if ex:
            who = " ".join(f"{k}={esc(str(ex[k]))}" for k in ("pid", "comm", "exe") if ex[k])
            print(f"           latest: {ex['ts']} {who}", file=file)
            if ex["raw"]:
                print(f"           raw: {esc(ex['raw'])}", file=file)
        rule = a.as_dict()["suggested_rule"]
        if rule:
            print(f"           rule to allow it: {esc(rule)}", file=file)


def run_test(args: argparse.Namespace) -> int:
    """Evaluate the rules once; print, and optionally send, the notifications."""
    try:
        rules = load_rules(args.rules)
        until = _parse_until(args.until)
    except (ConfigError, OSError, ValueError) as e:
        _err(str(e))
        return 2
    try:
        con, _ = open_reader(args.db)
    except StoreNotFoundError as e:
        _err(str(e))
        return 2
    except duckdb.Error as e:
        _err(f"cannot open {args.db}: {e}")
        return 2
    try:
        hosts = [h.strip() for item in args.host for h in item.split(",") if h.strip()]
        if hosts:
            unknown = _unknown_hosts(con, hosts)
            if unknown:
                _err(unknown)
                return 2
            only_hosts(con, hosts)
        notes = evidence.attach(con, plan(con, rules, until))
    finally:
        con.close()
    # With --dry-run stdout holds only the request bodies (one per line, `| jq` reads
    # them); the human summary goes to stderr.
    human = sys.stderr if args.dry_run and args.webhook is not None else sys.stdout
    for n in notes:
        print_notification(n, human)
    print(f"{len(notes)} notification(s), {sum(len(n.alerts) for n in notes)} alert(s)", file=human)
    if args.webhook is None:
        return 0
    if args.dry_run:
        for n in notes:
            print(render(n.as_message(), args.preset).decode())
        return 0
    return asyncio.run(_send(args, notes))


def _unknown_hosts(con: duckdb.DuckDBPyConnection, hosts: list[str]) -> str:
    """An error naming the given hosts the store has no record of ("" when none): a typo
    must not read as "no alerts"."""
    known = {h for (h,) in con.execute("SELECT DISTINCT host::VARCHAR FROM records").fetchall()}
    missing = [h for h in hosts if h not in known]
    if not missing:
        return ""
    listed = ", ".join(sorted(h for h in known if h is not None)) or "none"
    return f"no record of host {', '.join(map(repr, missing))} in the store (hosts: {listed})"


def _parse_until(value: str | None) -> datetime | None:
    if value is None:
        return None
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def _send(args: argparse.Namespace, notes: list[Notification]) -> int:
    with tempfile.TemporaryDirectory(prefix="armorwatch-alerts-") as tmp:
        config = WebhookConfig(
            url=args.webhook,
            preset=args.preset,
            secret_file=args.secret_file,
            secret_env=args.secret_env,
            state_dir=args.state_dir or Path(tmp),
            allow_cidrs=tuple(args.allow),
            backoff_base=1.0,
            max_attempts=3,
            timeout=min(args.timeout, 15.0),
        )
        sink = WebhookSink(config)
        try:
            await sink.open()
            for n in notes:
                await sink.send_alert(n.as_message())
            await sink.drain(args.timeout)
        except SinkError as e:
            _err(str(e))
            await sink.close()
            return 2
        stats = sink.stats
        pending = sink.pending
        await sink.close()
    print(
        f"webhook: {stats.delivered} delivered, {stats.dead_lettered} dead-lettered, "
        f"{stats.blocked} refused by the SSRF guard, {pending} still pending"
    )
    if stats.blocked:
        print(
            "the receiver's address is not public: admit its network with --allow CIDR "
            "(allow_cidrs in the webhook config) if that is intended",
            file=sys.stderr,
        )
    return 0 if stats.delivered == len(notes) else 1
