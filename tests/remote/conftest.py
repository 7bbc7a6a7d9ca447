"""A real HTTP server honouring Range (rangehttpserver's handler) on 127.0.0.1, started per test.

The handler serves a temporary folder and records every request (path, Range, bytes sent); a test
can add a delay per request, answer some requests with an error status, cut answers short, or serve
like a server without Range support (Python's plain http.server, which ignores the header)."""

from __future__ import annotations

import os
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

RangeHTTPServer = pytest.importorskip("RangeHTTPServer")


class Recorder:
    def __init__(self, root: str) -> None:
        self.root = root
        self.requests: list[tuple[str, str]] = []  # (path, Range header)
        self.nbytes = 0
        self.delay = 0.0
        self.status: dict[str, int] = {}  # path -> status to answer instead
        self.fail_next = 0  # answer this many next requests with 503
        self.truncate = False  # send half of each body, then close
        self.no_range = False  # ignore Range, as http.server does
        self.unknown_size = False  # "Content-Range: bytes a-b/*", as a server streaming a file of unknown length
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0  # most requests served at once

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.nbytes = 0


class _Counting:
    def __init__(self, raw, rec: Recorder) -> None:
        self._raw, self._rec = raw, rec

    def write(self, b) -> int:
        with self._rec.lock:
            self._rec.nbytes += len(b)
        return self._raw.write(b)

    def __getattr__(self, name):
        return getattr(self._raw, name)


def _handler(rec: Recorder):
    class Handler(RangeHTTPServer.RangeRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=rec.root, **kwargs)

        def log_message(self, *args):
            pass

        def do_GET(self):
            with rec.lock:
                rec.requests.append((self.path, self.headers.get("Range", "")))
                fail = rec.fail_next > 0
                rec.fail_next -= fail
            with rec.lock:
                rec.in_flight += 1
                rec.max_in_flight = max(rec.max_in_flight, rec.in_flight)
            try:
                self._serve(fail)
            finally:
                with rec.lock:
                    rec.in_flight -= 1

        def _serve(self, fail):
            if rec.delay:
                time.sleep(rec.delay)
            status = 503 if fail else rec.status.get(self.path)
            if status:
                self.send_error(status)
                return
            if rec.no_range:
                del self.headers["Range"]
                return SimpleHTTPRequestHandler.do_GET(self)
            f = self.send_head()
            if f is None:
                return
            try:
                out = _Counting(self.wfile, rec)
                if rec.truncate and self.range:
                    first, last = self.range
                    RangeHTTPServer.copy_byte_range(f, out, first, first + max((last - first) // 2, 1))
                    self.close_connection = True
                else:
                    self.copyfile(f, out)
            finally:
                f.close()

        def send_header(self, key, value):
            if key == "Content-Range" and rec.unknown_size:
                value = value.rsplit("/", 1)[0] + "/*"
            super().send_header(key, value)
            if key == "Last-Modified":  # a strong validator, as nginx and object stores send
                st = os.stat(self.translate_path(self.path))
                super().send_header("ETag", f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"')

    return Handler


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """(base URL, Recorder) of a Range server over ``tmp_path``; retries are fast in tests."""
    monkeypatch.setenv("MLARRAY_REMOTE_BACKOFF", "0.01")
    monkeypatch.setenv("MLARRAY_REMOTE_RETRIES", "3")
    monkeypatch.setenv("MLARRAY_REMOTE_TIMEOUT", "5")
    from mlarray._remote.store import cache

    cache.clear()  # each test counts its own requests
    rec = Recorder(str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", rec
    finally:
        server.shutdown()
        server.server_close()
