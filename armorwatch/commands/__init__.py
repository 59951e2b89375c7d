"""One module per CLI subcommand; each exposes ``register(subparsers)``.

A command's ``register`` adds its parser and sets ``func`` to a callable taking the
parsed namespace and returning the exit code (0 ok, 1 failure, 2 usage or I/O error).
An exception a command does not handle is a bug: ``armorwatch.cli`` prints one line to
stderr (the traceback only with ``--log-level DEBUG``) and exits ``INTERNAL_ERROR``.
"""

INTERNAL_ERROR = 70  # EX_SOFTWARE of sysexits.h: distinct from a command's own failures

# The order of `armorwatch --help`. The CLI registers the ones whose module exists.
COMMANDS: tuple[str, ...] = (
    "run",
    "collect",
    "process",
    "parse",
    "query",
    "suggest",
    "explain",
    "review",
    "alerts",
    "report",
)
