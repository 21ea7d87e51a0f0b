"""HTTPS plumbing for fake servers (this fake vault, and the tests' fake Kubernetes API): one thread per
connection, the TLS handshake done in that thread so a slow client never stalls ``accept``, HTTP/1.1
keep-alive, bounded request bodies, and a stop that drops every open connection. ``PlainServer`` is the
same without TLS, for the fake IMDS (which real clients reach over plain HTTP).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("kvfs.fakevault")

HANDSHAKE_TIMEOUT = 10.0
#: Idle keep-alive connections are closed after this long (clients reconnect transparently).
IDLE_TIMEOUT = 120.0


class BodyError(Exception):
    """A request body that cannot be read: ``status`` is 400 or 413."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    """Base of a fake's request handler: every method goes to ``dispatch``."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    max_body = 8 * 1024 * 1024

    def do_GET(self) -> None:
        self.dispatch()

    do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def dispatch(self) -> None:
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def send_answer(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        """Status, ``headers`` (Content-Type among them, in order), Content-Length, and the body (not for HEAD)."""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self) -> bytes:
        """The body (Content-Length or chunked), at most ``max_body`` bytes; raises BodyError."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            self.close_connection = True
            raise BodyError(400, "invalid Content-Length") from None
        if length < 0 or length > self.max_body:
            self.close_connection = True
            raise BodyError(413, f"request body larger than {self.max_body} bytes")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise BodyError(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > self.max_body:
                self.close_connection = True
                raise BodyError(413, f"request body larger than {self.max_body} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)


class TLSServer(ThreadingHTTPServer):
    """ThreadingHTTPServer over TLS; ``app`` is whatever the handler needs, shared by all connections."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], ssl_context: ssl.SSLContext | None, app: Any, handler: type[Handler]
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.ssl_context = ssl_context
        self.app = app
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._closing = False
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.wrap(request)
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        with self._conn_lock:
            if self._closing:
                tls.close()
                return
            self._connections.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, TimeoutError, ssl.SSLError, OSError) as exc:
            log.debug("connection from %s ended: %s", client_address, exc)
        finally:
            with self._conn_lock:
                self._connections.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def wrap(self, request: socket.socket) -> socket.socket:
        """The connection as the handler reads it: after the TLS handshake (as is without a context)."""
        if self.ssl_context is None:
            return request
        return self.ssl_context.wrap_socket(request, server_side=True)

    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(OSError):
            request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("error on connection from %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Drop every open connection (keep-alive ones included), so stop() leaves nothing behind."""
        with self._conn_lock:
            self._closing = True
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def stop(self, thread: threading.Thread | None) -> None:
        """Stop serving, close the socket and every connection, and wait for the serving thread."""
        self.shutdown()
        self.server_close()
        self.close_connections()
        if thread is not None:
            thread.join(timeout=5)


class PlainServer(TLSServer):
    """The same threaded server over plain HTTP (connection tracking and ``stop`` included)."""

    def __init__(self, address: tuple[str, int], app: Any, handler: type[Handler]) -> None:
        super().__init__(address, None, app, handler)
