"""The one error base for the ``jobs`` package.

Every module in ``jobs`` raises a subclass of :class:`JobsError`, so a caller
can catch all of the package's failures with one ``except`` clause.
"""


class JobsError(Exception):
    """Base of every error raised by the ``jobs`` package."""
