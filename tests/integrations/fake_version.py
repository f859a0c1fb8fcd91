"""A local fake of the config repo's GitHub Pages: serves version.json from a thread, scripted by the test."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = 'abc1234' + 'f' * 33
LOCK = 'a' * 64


def version_json(commit: str = COMMIT, lock: str | None = LOCK, **extra: Any) -> dict[str, Any]:
    """A version.json body as the nixcfg Pages workflow publishes it."""
    body: dict[str, Any] = {
        'gitCommit': commit,
        'message': 'hosts: enable zram',
        'branch': 'main',
        'timestamp': '2026-11-25T16:00:00Z',
        'repo': 'owner/nixcfg',
        **extra,
    }
    if lock is not None:
        body['lockHash'] = lock
    return body


@dataclass
class Reply:
    """What the next requests get: a status, a body, and optionally a hold until `release()`."""

    status: int = 200
    body: bytes = b''
    hold: bool = False


@dataclass
class FakeVersionServer:
    """version.json on 127.0.0.1:<free port>; `serve(...)`, `fail(...)` and `hold()` change the next replies."""

    reply: Reply = field(default_factory=Reply)
    requests: int = 0
    _released: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f'http://127.0.0.1:{self._httpd.server_address[1]}/nixcfg/version.json?token=secret-token'

    def serve(self, body: Any = None, *, raw: bytes | None = None) -> None:
        """Answer 200 with `body` as JSON (default: a valid version.json), or with `raw` bytes."""
        data = raw if raw is not None else json.dumps(version_json() if body is None else body).encode()
        self.reply = Reply(200, data)

    def fail(self, status: int, body: bytes = b'not here') -> None:
        """Answer with an HTTP error status."""
        self.reply = Reply(status, body)

    def hold(self) -> None:
        """Keep the next requests waiting (until `release()` or the server stops), then answer as before."""
        self._released.clear()
        self.reply = Reply(self.reply.status, self.reply.body, hold=True)

    def release(self) -> None:
        self._released.set()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests += 1
                reply = fake.reply
                if reply.hold:
                    fake._released.wait(10)
                self.send_response(reply.status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self.serve()
        self._httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={'poll_interval': 0.02}, name='fake-version-json', daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._released.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
