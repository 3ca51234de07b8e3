"""What the alert tests share that is not a fixture: a webhook receiver and its secret."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "s3cret-for-tests"


class Receiver:
    """A tiny webhook receiver that checks signatures as docs/alerts.md tells receivers to."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes, bool]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers["X-Plantwatch-Timestamp"]
                expected = (
                    "sha256="
                    + hmac.new(
                        SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256
                    ).hexdigest()
                )
                ok = hmac.compare_digest(expected, self.headers["X-Plantwatch-Signature"])
                fresh = abs(time.time() - int(ts)) <= 300
                receiver.requests.append((dict(self.headers), body, ok and fresh))
                code = 500 if len(receiver.requests) <= receiver.fail_first else 204
                self.send_response(code if ok else 401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
