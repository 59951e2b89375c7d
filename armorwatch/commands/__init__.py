"""One module per CLI subcommand; each exposes ``register(subparsers)``.

A command's ``register`` adds its parser and sets ``func`` to a callable taking the
parsed namespace and returning the exit code (0 ok, 1 failure, 2 usage or I/O error).
An exception a command does not handle is a bug: ``armorwatch.cli`` prints one line to
stderr (the traceback only with ``--log-level DEBUG``) and exits ``INTERNAL_ERROR``.
"""

INTERNAL_ERROR = 70  # EX_SOFTWARE of sysexits.h: distinct from a command's own failures

# The order of `armorwatch --help`, with each command's one-line help (its module uses
# the same text). Only the command being run is imported: see armorwatch.cli.
COMMANDS: dict[str, str] = {
    "run": "run the whole pipeline in-process on log files (default: the bundled samples)",
    "collect": "collect AppArmor/SELinux records from this host (audit.log, kern.log, journald)",
    "process": "consume record batches from Kafka and store them in DuckDB",
    "parse": "parse audit.log / kern.log / journald JSON files into MAC records",
    "query": "run SQL or a saved query against the store (read-only)",
    "suggest": "suggest AppArmor rules (validated by apparmor_parser) and SELinux allow rules",
    "explain": "why one record was denied and what rule would allow it (audit2why)",
    "review": "review suggested rules interactively (aa-logprof style) and write them",
    "alerts": "evaluate alert rules on demand, or list them",
    "report": "write the nightly profile-tightening report (HTML, Markdown, JSON)",
    "store": "store upkeep: migrate an old single-file store, retention and compaction",
}
