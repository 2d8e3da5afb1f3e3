"""The HTTP server: AWS's wire protocols on one port, for boto3, the AWS CLI and any SDK.

The standard library's ``ThreadingHTTPServer`` made fit for real clients: HTTP/1.1
keep-alive with ``TCP_NODELAY`` and each response written in one send (no Nagle/delayed-ACK
stall), a listen backlog of 128, a read timeout and a bounded request size (a body shorter
than its Content-Length cannot hold a thread), chunked bodies decoded, and every malformed
request answered with HTTP 400 and an AWS-shaped error carrying ``x-amzn-RequestId``.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from simulator.api.endpoint import Endpoint, json_error

MAX_BODY_BYTES = 16 * 1024 * 1024
READ_TIMEOUT_SECONDS = 30.0
BACKLOG = 128
TICK_SECONDS = 0.25


class BadRequest(Exception):
    """A request the HTTP layer cannot read (length, chunking, size)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SimulatorServer(ThreadingHTTPServer):
    """An HTTP server bound to one ``Endpoint``; a ticker thread moves its clock."""

    daemon_threads = True
    request_queue_size = BACKLOG
    allow_reuse_address = True

    def __init__(self, endpoint: Endpoint, address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.endpoint = endpoint
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="fargate-sim-clock",
                                        daemon=True)
        self._ticker.start()

    @property
    def sim(self) -> Any:
        return self.endpoint.sim

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.endpoint.tick()
            except Exception:  # keep ticking; the error is the simulator's, shown once
                import traceback

                traceback.print_exc()

    def shutdown(self) -> None:
        """Stop serving and ticking, and save what is unsaved."""
        self._stop.set()
        super().shutdown()
        with self.endpoint.lock:
            if self.endpoint.store is not None:
                self.endpoint.save()


def _read_chunked(rfile: Any) -> bytes:
    out = bytearray()
    while True:
        line = rfile.readline(1024)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest(400, "SerializationException",
                             f"(fargate-sim: bad chunk size line {line[:40]!r})") from None
        if size < 0 or len(out) + size > MAX_BODY_BYTES:
            raise BadRequest(413, "RequestEntityTooLarge",
                             f"(fargate-sim: the body exceeds {MAX_BODY_BYTES} bytes)")
        if size == 0:
            while rfile.readline(1024).strip():  # trailers
                pass
            return bytes(out)
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise BadRequest(400, "IncompleteBody", "(fargate-sim: the chunked body ended early)")
        out += chunk
        rfile.readline(8)


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_SECONDS
    server_version = "fargate-sim"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None
                   ) -> None:
        """Errors of the HTTP layer itself (bad request line, headers), AWS-shaped."""
        status, headers, body = json_error(code, "SerializationException" if code == 400
                                           else "BadRequest", f"(fargate-sim: {message})")
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # answer with headers even to an HTTP/0.9 line
        self._send(status, headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        if not hasattr(self, "_headers_buffer"):
            self._headers_buffer = []
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n" + body)  # headers and body in one send
        self.flush_headers()

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return _read_chunked(self.rfile)
        text = self.headers.get("Content-Length")
        if text is None:
            return b""
        try:
            length = int(text.strip())
        except ValueError:
            length = -1
        if length < 0 or not text.strip().isdigit():
            raise BadRequest(400, "SerializationException",
                             f"(fargate-sim: Content-Length {text!r} is not a length)")
        if length > MAX_BODY_BYTES:
            raise BadRequest(413, "RequestEntityTooLarge",
                             f"(fargate-sim: the body exceeds {MAX_BODY_BYTES} bytes)")
        body = self.rfile.read(length)
        if len(body) < length:
            raise BadRequest(400, "IncompleteBody",
                             f"(fargate-sim: the body has {len(body)} of the {length} bytes "
                             "Content-Length announced)")
        return body

    def _handle(self) -> None:
        try:
            body = self._body()
        except BadRequest as exc:
            self.close_connection = True
            self._send(*json_error(exc.status, exc.code, exc.message))
            return
        except TimeoutError:
            self.close_connection = True
            self._send(*json_error(400, "RequestTimeout",
                                   "Your socket connection to the server was not read from "
                                   "or written to within the timeout period."))
            return
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, data = self.server.endpoint.handle(
            self.command, parts.path or "/", parts.query, headers, body, self.client_address[0])
        self._send(status, out_headers, data)

    do_POST = do_GET = do_PUT = do_DELETE = _handle


def serve(sim: Any, host: str = "127.0.0.1", port: int = 0,
          principals: dict[str, str] | None = None, **options: Any) -> SimulatorServer:
    """Start serving ``sim`` in a background thread; ``server.shutdown()`` stops it.

    ``options`` go to ``Endpoint`` (``auth=Authenticator(...)``, ``store=``, ``speed=``,
    ``make_sim=``). Without ``auth``, requests are not verified and ``principals`` maps
    access key ids to the principal they call as (the root otherwise).
    """
    endpoint = Endpoint(sim, principals=principals, **options)
    server = SimulatorServer(endpoint, (host, port))
    threading.Thread(target=server.serve_forever, name="fargate-sim-api", daemon=True).start()
    return server


__all__ = ["BadRequest", "SimulatorServer", "serve"]
