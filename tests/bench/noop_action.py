"""A custom-action server that does nothing: for measuring Rasa's own handling of a message, its remote
action call included, without our action (tests/bench/conversation.py).

It answers every call at once with one text reply and no events, after reading and parsing the JSON
body Rasa sends (the domain and the conversation's events), whose size it records: GET /stats gives
the body sizes in bytes in the order received. Standard library only, so it starts in a moment.

    .venv/bin/python -m tests.bench.noop_action PORT
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY = json.dumps({"events": [], "responses": [{"text": "noop"}]}).encode()
sizes: list[int] = []
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write and at once: with Nagle's algorithm a second small write waits
    # for the client's delayed ACK (about 40 ms on loopback), which would be charged to Rasa.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        json.loads(body or b"{}")
        with lock:
            sizes.append(len(body))
        self._send(REPLY)

    def do_GET(self) -> None:
        with lock:
            data = json.dumps(sizes).encode()
            if self.path == "/stats/reset":
                sizes.clear()
        self._send(data)

    def _send(self, data: bytes) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        self.wfile.write(head.encode() + data)

    def log_message(self, *_: object) -> None:
        pass


def main() -> None:
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()


if __name__ == "__main__":
    main()
