"""A tiny webhook receiver for the compose demo: logs each POST and answers 204.

Standard library only, so it runs in the plain python image. It prints the webhook-id
header and the body size, never the body (alert text is log-derived).
"""

from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(BaseHTTPRequestHandler):
    """Accepts POST on any path."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20))
        webhook_id = self.headers.get("webhook-id", "-")
        print(f"webhook {self.path} id={webhook_id!r} bytes={len(body)}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Receiver)
    print(f"webhook receiver listening on :{port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
