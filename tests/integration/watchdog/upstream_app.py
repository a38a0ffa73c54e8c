"""A stdlib HTTP app for http-mode tests: ``python upstream_app.py PORT [START_DELAY]``.

``/sse?gate=PATH`` sends one event, then the other two once the file PATH exists: a stream the test holds
open until it has seen the first event arrive."""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Upstream", "yes")
        self.end_headers()
        self.wfile.write(body)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(length) if length else b""
        path = self.path
        if path.startswith("/slow"):
            time.sleep(float(path.split("s=")[1]) if "s=" in path else 1.0)  # the slow function under test
            self._send(200, b"slow done", "text/plain")
        elif urlsplit(path).path == "/sse":
            gate = Path(parse_qs(urlsplit(path).query)["gate"][0])
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for index in range(3):
                self.wfile.write(f"data: {index}\n\n".encode())
                self.wfile.flush()
                deadline = time.monotonic() + 30
                while not gate.exists() and time.monotonic() < deadline:  # the test opens it
                    time.sleep(0.01)
            self.close_connection = True
        elif path == "/crash":
            self.connection.close()
            self.close_connection = True
        elif path == "/exit":
            self._send(200, b"bye", "text/plain")
            self.wfile.flush()
            os._exit(4)
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            data = {
                "method": self.command,
                "path": path,
                "host": self.headers.get("Host"),
                "custom": self.headers.get("X-Custom"),
                "body": body.decode(),
                "length": self.headers.get("Content-Length"),
            }
            self._send(200, json.dumps(data).encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: object) -> None:
        print("upstream:", format % args, flush=True)


if __name__ == "__main__":
    # "env": the port the watchdog assigned (upstream_url with port 0), as template servers read it
    assigned = os.environ.get("http_port", "")  # noqa: SIM112 (the lower-case name OpenFaaS uses)
    port = int(assigned) if sys.argv[1] == "env" else int(sys.argv[1])
    if len(sys.argv) > 2:
        time.sleep(float(sys.argv[2]))  # a slow start-up, the behaviour under test
    print("upstream listening", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
