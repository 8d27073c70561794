"""A real reporting API on 127.0.0.1 for delivery tests: it stores reports by Idempotency-Key,
validates every body against the JSON Schema of its kind, and fails on purpose when told to.

    with Receiver(token="t") as receiver:    # or Receiver(...).start() and .stop()
    receiver.then(Reply(500), Reply(429, headers={"Retry-After": "120"}), Reply(200, delay=0.5))
    ...                      # scripted replies are used by the next requests, in order
    receiver.outage = Reply(503)  # every request gets this reply until set back to None
    receiver.stop()          # the port refuses connections until start() again

Without a scripted reply, a request with the right token and a body valid for its kind is
stored (the first body per key) and answered 200; a repeat of a stored key is answered 200 too.
A scripted 2xx reply stores the body before it waits ``delay`` seconds, like a receiver that
is slow to answer but has done the work.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


@dataclasses.dataclass
class Reply:
    status: int = 200
    headers: dict = dataclasses.field(default_factory=dict)
    body: bytes = b'{"status":"ok"}'
    delay: float = 0.0  # real seconds before answering
    drop: bool = False  # close the connection without an answer


@dataclasses.dataclass
class Seen:
    key: str | None
    kind: str | None
    body: bytes
    headers: dict
    status: int | None  # what was answered (None: dropped)


class Receiver:
    def __init__(self, *, token: str | None = None, path: str = "/api/visits") -> None:
        self.token = token
        self.path = path
        self.port = 0
        self.script: deque[Reply] = deque()
        self.outage: Reply | None = None
        self.seen: list[Seen] = []
        self.stored: dict[str, bytes] = {}
        self.order: list[str] = []  # keys in the order they were first stored
        self.schema_errors: list[str] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._validators = {
            kind: jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{kind}.schema.json").read_text()))
            for kind in ("visits", "daily_summary")
        }

    # -- control --------------------------------------------------------------------------

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                receiver._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, path: str | None = None) -> str:
        return f"http://127.0.0.1:{self.port}{path or self.path}"

    def then(self, *replies: Reply) -> Receiver:
        with self.lock:
            self.script.extend(replies)
        return self

    # -- what happened ----------------------------------------------------------------------

    def keys_seen(self) -> list[str | None]:
        return [s.key for s in self.seen]

    # -- serving ----------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        key, kind = h.headers.get("Idempotency-Key"), h.headers.get("Footfall-Report-Kind")
        with self.lock:
            reply = self.outage or (self.script.popleft() if self.script else None)
            seen = Seen(key, kind, body, dict(h.headers.items()), None)
            self.seen.append(seen)
        if reply is not None and reply.drop:
            h.close_connection = True
            return
        if reply is None or 200 <= reply.status < 300:
            problem = self._check(h, key, kind, body)
            if problem:
                reply = Reply(problem[0], body=json.dumps({"error": problem[1]}).encode())
            else:
                with self.lock:
                    if key not in self.stored:
                        self.stored[key] = body
                        self.order.append(key)
        reply = reply or Reply()
        if reply.delay:
            time.sleep(reply.delay)
        seen.status = reply.status
        try:
            h.send_response(reply.status)
            for name, value in reply.headers.items():
                h.send_header(name, value)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(reply.body)))
            h.end_headers()
            h.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up waiting

    def _check(self, h, key, kind, body) -> tuple[int, str] | None:
        if self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, "missing or wrong bearer token"
        if not key or kind not in self._validators:
            return 400, "missing Idempotency-Key or Footfall-Report-Kind"
        try:
            self._validators[kind].validate(json.loads(body))
        except (ValueError, jsonschema.ValidationError) as exc:
            with self.lock:
                self.schema_errors.append(f"{key}: {exc}")
            return 400, "body does not match the schema"
        return None
