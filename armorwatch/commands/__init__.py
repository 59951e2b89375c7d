"""One module per CLI subcommand; each exposes ``register(subparsers)``.

A command's ``register`` adds its parser and sets ``func`` to a callable taking the
parsed namespace and returning the exit code (0 ok, 1 failure, 2 usage or I/O error).
"""

# The order of `armorwatch --help`. The CLI registers the ones whose module exists.
COMMANDS: tuple[str, ...] = (
    "run",
    "collect",
    "process",
    "parse",
    "query",
    "suggest",
    "alerts",
    "report",
)
