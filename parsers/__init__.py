"""Pure parsing: bytes in, Arrow out (no I/O).

Modules: ``schema`` (the one Arrow schema), ``result`` (HostInfo, ParseResult),
``stream`` (Parser, parse_bytes), ``records`` (line classifier, the reference path),
``fields`` (hex, labels, protocol names), ``envelope``, ``sanitize``.

Error tree: the parser raises nothing on input. Bad lines are returned as rejects
(``ParseResult.rejects``: raw bytes + reason). ``ValueError`` / ``TypeError`` only for
programming errors (unknown framing, non-bytes input).
"""
