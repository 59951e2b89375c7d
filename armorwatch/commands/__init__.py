"""One module per CLI subcommand; each exposes ``register(subparsers)``.

A command's ``register`` adds its parser and sets ``func`` to a callable taking the
parsed namespace and returning the exit code (0 ok, 1 failure, 2 usage or I/O error).
"""

# Order here is the order in `armorwatch --help`.
# Each subcommand's owner adds it here when it works.
COMMANDS: tuple[str, ...] = ()
