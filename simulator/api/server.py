"""The HTTP server: AWS's wire protocols on one port, for boto3, the AWS CLI and any SDK.

A lean HTTP/1.1 reader over ``socketserver`` (a thread per connection, at most
``MAX_CONNECTIONS`` of them; more connections wait in a listen backlog of 128): keep-alive
with ``TCP_NODELAY`` and each response written in one send (no Nagle/delayed-ACK stall), a
read timeout for each whole request (a client that sends a body shorter than its
Content-Length, or trickles its request a byte at a time, cannot hold a thread) and for an
idle connection, bounded request line, header and body sizes, chunked bodies decoded (any
other transfer coding refused with 501), ``Expect: 100-continue`` answered, and every
malformed request answered with HTTP 400 and an AWS-shaped error carrying
``x-amzn-RequestId``, then a lingering close. Headers are split by hand rather than by
``http.server``'s e-mail parser, which cost more than the simulated call.
https://www.rfc-editor.org/rfc/rfc9112 (HTTP/1.1 message syntax)
"""

from __future__ import annotations

import io
import select
import socket
import socketserver
import struct
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from io import BufferedIOBase
from typing import Any

from simulator.api.endpoint import Endpoint, Response, json_error

MAX_BODY_BYTES = 16 * 1024 * 1024
#: The longest request line or header line read, and the most header lines (as
#: ``http.server`` and ``http.client`` bound them).
MAX_LINE_BYTES = 65536
MAX_HEADERS = 100
#: The longest a connection waits for a request's first byte (an idle keep-alive connection
#: is then closed), and the longest from that byte until the whole request (request line,
#: headers, body) is in: the limit is the request's, not each receive's, so a client
#: trickling a byte at a time cannot hold a thread past it.
READ_TIMEOUT_SECONDS = 30.0
BACKLOG = 128
#: The most connections served at once, each by its own thread. The server accepts a
#: connection only when one of these slots is free; the rest wait in the kernel's listen
#: backlog (``BACKLOG``), as Apache's MaxRequestWorkers and nginx's worker_connections
#: queue them, rather than each spawning a thread (3,000 idle connections were 3,000
#: threads) or being refused: a client that waits is served, where a 503 would be a failure
#: for an SDK to retry. Past the backlog too, the kernel ignores new connections until there
#: is room and clients retry them. A slot is held at most ``READ_TIMEOUT_SECONDS`` by a
#: connection that sends nothing.
MAX_CONNECTIONS = 256
#: How long a full server waits for a slot to free before looking at its shutdown flag.
ACCEPT_WAIT_SECONDS = 0.5
#: After an error answer that closes the connection, what the client still sends is read
#: and dropped for at most this long (RFC 9112, 9.6; Apache's lingering close waits 2 s per
#: read): closing a socket with unread input sends a reset, which can destroy the answer
#: before the client reads it.
LINGER_SECONDS = 2.0
TICK_SECONDS = 0.25
METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})
_REASONS = {s.value: s.phrase for s in HTTPStatus}


class BadRequest(Exception):
    """A request the HTTP layer cannot read (request line, headers, length, chunking, size)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SimulatorServer(socketserver.ThreadingTCPServer):
    """An HTTP server bound to one ``Endpoint``; a ticker thread moves its clock.

    ``read_timeout`` is each request's read limit and the keep-alive idle limit (both
    ``READ_TIMEOUT_SECONDS`` unless given), read by each new connection; at most
    ``max_connections`` connections are served at once (``MAX_CONNECTIONS``), the rest
    wait in the listen backlog."""

    daemon_threads = True
    request_queue_size = BACKLOG
    allow_reuse_address = True

    def __init__(self, endpoint: Endpoint, address: tuple[str, int] = ("127.0.0.1", 0), *,
                 read_timeout: float = READ_TIMEOUT_SECONDS,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        if not read_timeout > 0:
            raise ValueError(f"read_timeout {read_timeout} must be a positive number of seconds")
        if max_connections < 1:
            raise ValueError(f"max_connections {max_connections} must be at least 1")
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        #: Connections being served now (each by a thread), at most ``max_connections``.
        self.connections = 0
        self._slots = threading.Condition()
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
        name = host.decode() if isinstance(host, bytes) else str(host)
        if ":" in name:
            name = f"[{name}]"
        return f"http://{name}:{port}"

    def get_request(self) -> tuple[Any, Any]:
        """Accept a connection once a slot is free; while none is, the connection stays in the
        listen backlog and ``OSError`` tells the serving loop to look again (after at most
        ``ACCEPT_WAIT_SECONDS``, so ``shutdown`` is not held up by a full server)."""
        with self._slots:
            if self.connections >= self.max_connections:
                self._slots.wait(ACCEPT_WAIT_SECONDS)
                if self.connections >= self.max_connections:
                    raise OSError("every connection slot is taken")
            self.connections += 1
        try:
            return super().get_request()
        except BaseException:
            self._free_slot()
            raise

    def close_request(self, request: Any) -> None:
        """Close an accepted connection (served or not) and free its slot."""
        try:
            super().close_request(request)
        finally:
            self._free_slot()

    def _free_slot(self) -> None:
        with self._slots:
            self.connections -= 1
            self._slots.notify()

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


def _request_line(rfile: BufferedIOBase) -> bytes:
    line = rfile.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise BadRequest(414, "SerializationException",
                         f"(fargate-sim: the request line is longer than {MAX_LINE_BYTES} bytes)")
    return line


def read_headers(rfile: BufferedIOBase) -> dict[str, str]:
    """The header block after a request line: lower-case names, repeated fields joined
    with commas (RFC 9110, 5.3); obsolete line folding and nameless lines are refused."""
    peek = getattr(rfile, "peek", None)
    if peek is not None:
        # The usual request arrives whole: its header block is taken from the buffer at once
        # (one decode, one split) rather than line by line; anything unusual (a block not
        # yet all read, bare LF line ends, too many fields, folding, a bad field) is left
        # where it is for the line-by-line reader below, which says what is wrong.
        buffered = peek(MAX_LINE_BYTES)
        end = buffered.find(b"\r\n\r\n")
        if end >= 0:
            found = _header_block(buffered[:end])
            if found is not None:
                rfile.read(end + 4)
                return found
        elif buffered[:2] == b"\r\n":  # no header fields at all
            rfile.read(2)
            return {}
    return _read_header_lines(rfile)


def _add_field(headers: dict[str, str], name: str, value: str) -> None:
    """One header field into ``headers``: a repeated name's values joined by ", "."""
    headers[name] = f"{headers[name]}, {value}" if name in headers else value


def _header_block(block: bytes) -> dict[str, str] | None:
    """The fields of a CRLF-separated header block, as ``_read_header_lines`` reads them;
    None for a block it would read otherwise or refuse (it then reads it itself)."""
    lines = block.decode("iso-8859-1").split("\r\n")
    if len(lines) > MAX_HEADERS or block.count(b"\n") != len(lines) - 1:
        return None
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        # Refused or unusual (folding, no name, spaces around or in the name): the
        # line reader answers it. A line is at most the peek's size, so never too long.
        if not sep or not name or name[0] in " \t" or name != name.strip() or " " in name:
            return None
        _add_field(headers, name.lower(), value.strip())
    return headers


def _read_header_lines(rfile: BufferedIOBase) -> dict[str, str]:
    """``read_headers`` one line at a time, for any header block."""
    headers: dict[str, str] = {}
    readline = rfile.readline
    for _ in range(MAX_HEADERS + 1):
        line = readline(MAX_LINE_BYTES + 1)
        if line == b"\r\n" or line == b"\n":
            return headers
        if len(line) > MAX_LINE_BYTES:
            raise BadRequest(431, "SerializationException",
                             f"(fargate-sim: the header line is longer than {MAX_LINE_BYTES} "
                             "bytes)")
        if not line:
            raise BadRequest(400, "SerializationException",
                             "(fargate-sim: the connection closed inside the headers)")
        if line[0] in b" \t":
            raise BadRequest(400, "SerializationException",
                             "(fargate-sim: obsolete header line folding is not accepted)")
        name, sep, value = line.decode("iso-8859-1").partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise BadRequest(400, "SerializationException",
                             f"(fargate-sim: {line[:40]!r} is not a header field)")
        _add_field(headers, name.lower(), value.strip())
    raise BadRequest(431, "SerializationException",
                     f"(fargate-sim: more than {MAX_HEADERS} header fields)")


def read_chunked(rfile: BufferedIOBase) -> bytes:
    """A chunked transfer-coded body, decoded (trailers read and dropped)."""
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
            for _ in range(MAX_HEADERS + 1):  # trailers
                if not rfile.readline(MAX_LINE_BYTES).strip():
                    break
            return bytes(out)
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise BadRequest(400, "IncompleteBody", "(fargate-sim: the chunked body ended early)")
        out += chunk
        rfile.readline(8)


def body_length(headers: dict[str, str]) -> int | None:
    """How a request's body is framed: None for chunked, else its length (0 without one).
    Refused: a transfer coding other than chunked (501: RFC 9112, 6.1, a server that does
    not understand a coding answers 501; gzip was taken for no body and the bytes after it for
    the next request), chunked not the last coding or applied twice (400: the body's length
    cannot be known, RFC 9112, 6.3), a Content-Length that is no length and a body too
    large (413). The caller closes the connection after a refusal."""
    coding = headers.get("transfer-encoding")
    if coding is not None:
        codings = [c.partition(";")[0].strip().lower() for c in coding.split(",")]
        codings = [c for c in codings if c]  # empty list elements are ignored (RFC 9110, 5.6.1)
        if "chunked" in codings[:-1]:
            raise BadRequest(400, "SerializationException",
                             f"(fargate-sim: Transfer-Encoding {coding!r}: chunked must be the "
                             "last transfer coding, applied once, or the body has no length)")
        unknown = [c for c in codings if c != "chunked"]
        if unknown:
            raise BadRequest(501, "NotImplemented",
                             "A header you provided implies functionality that is not "
                             f"implemented (fargate-sim: Transfer-Encoding {coding!r}: only "
                             "chunked is supported)")
        if not codings:
            raise BadRequest(400, "SerializationException",
                             "(fargate-sim: an empty Transfer-Encoding gives the body no length)")
        return None
    text = headers.get("content-length")
    if text is None:
        return 0
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(400, "SerializationException",
                         f"(fargate-sim: Content-Length {text!r} is not a length)")
    length = int(text)
    if length > MAX_BODY_BYTES:
        raise BadRequest(413, "RequestEntityTooLarge",
                         f"(fargate-sim: the body exceeds {MAX_BODY_BYTES} bytes)")
    return length


def read_length(rfile: BufferedIOBase, length: int | None) -> bytes:
    """The body ``body_length`` framed: chunked (None) or ``length`` bytes."""
    if length is None:
        return read_chunked(rfile)
    if not length:
        return b""
    body = rfile.read(length)
    if len(body) < length:
        raise BadRequest(400, "IncompleteBody",
                         f"(fargate-sim: the body has {len(body)} of the {length} bytes "
                         "Content-Length announced)")
    return body


def read_body(rfile: BufferedIOBase, headers: dict[str, str]) -> bytes:
    """The body a request's Transfer-Encoding or Content-Length announces, bounded."""
    return read_length(rfile, body_length(headers))


_date_cache: list[Any] = [0, ""]


def _http_date() -> str:
    """The Date header, formatted once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, formatdate(now, usegmt=True)]
    return _date_cache[1]


def response_bytes(response: Response, close: bool) -> bytes:
    """Status line, headers and body as one buffer, for one send."""
    status, headers, body = response
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    return (f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nServer: fargate-sim\r\n"
            f"Date: {_http_date()}\r\n{fields}Content-Length: {len(body)}\r\n"
            f"{_CLOSE if close else ''}\r\n").encode("iso-8859-1") + body


_CLOSE = "Connection: close\r\n"


class _RequestReader(io.RawIOBase):
    """A connection's receive side for a ``BufferedReader``, under two limits: a receive
    waiting for a request's first byte (``deadline`` None) takes at most the read timeout,
    and one after it (``deadline`` set by the handler) ends by ``deadline``, however the
    client spaces its bytes (a timeout per receive let a byte every 10 s hold a thread for
    ever). A receive past either raises ``TimeoutError``.

    With ``kernel`` the socket stays blocking and the kernel keeps the read timeout
    (``SO_RCVTIMEO``): a socket with a Python-side timeout polls before every recv and send,
    three extra system calls per request. A request that arrives in one receive, as SDKs
    send them, then costs that one recv; a receive inside a request first takes what has
    arrived without waiting (``MSG_DONTWAIT``) and polls, for the time left, only when
    nothing has. Without ``kernel`` (no ``SO_RCVTIMEO``), Python's socket timeout is set to
    the time left for each receive inside a request."""

    def __init__(self, sock: socket.socket, seconds: float, kernel: bool) -> None:
        super().__init__()
        self._sock = sock
        self._seconds = seconds
        self._kernel = kernel
        self._poll: Any = None
        #: The ``time.monotonic()`` by which the request being read must be in; None
        #: between requests.
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        sock = self._sock
        deadline = self.deadline
        if deadline is None:  # a request's first byte: the read timeout bounds the wait
            try:
                return sock.recv_into(buffer)
            except BlockingIOError:  # EAGAIN: SO_RCVTIMEO ran out
                raise TimeoutError("timed out") from None
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive within the read timeout")
        if not self._kernel:
            sock.settimeout(left)
            try:
                return sock.recv_into(buffer)
            finally:
                sock.settimeout(self._seconds)
        try:
            return sock.recv_into(buffer, 0, socket.MSG_DONTWAIT)  # the usual case: it is here
        except BlockingIOError:
            pass
        if self._poll is None:
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN)
        if not self._poll.poll(left * 1000):  # milliseconds, rounded up
            raise TimeoutError("the request did not arrive within the read timeout")
        try:
            return sock.recv_into(buffer)  # readable: data, the end, or an error, at once
        except BlockingIOError:  # EAGAIN after all, and SO_RCVTIMEO ran out
            raise TimeoutError("the request did not arrive within the read timeout") from None


#: The kernel-kept read timeout needs these besides ``SO_RCVTIMEO``.
_KERNEL_READS = hasattr(socket, "MSG_DONTWAIT") and hasattr(select, "poll")


def _kernel_timeouts(sock: socket.socket, seconds: float | None) -> bool:
    """Give ``sock`` kernel-kept send and receive timeouts (it stays blocking); False where
    the platform has no ``SO_RCVTIMEO`` in ``struct timeval`` form, or ``seconds`` is no
    positive number (a zero timeval would mean no timeout at all)."""
    if seconds is None or not seconds > 0:
        return False
    whole = int(seconds)
    timeval = struct.pack("@ll", whole, int((seconds - whole) * 1e6))
    try:
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    except (OSError, AttributeError):
        return False
    return True


def send_all(sock: socket.socket, data: bytes, seconds: float) -> None:
    """``sock.sendall(data)`` under a deadline ``seconds`` from now: no send starts after it,
    and the kernel's ``SO_SNDTIMEO`` (the same ``seconds``) bounds each send, so the whole
    takes at most about twice ``seconds`` (without the deadline a reader taking a few bytes
    at a time could hold the thread for ever); ``TimeoutError`` past it."""
    deadline = time.monotonic() + seconds
    sent = sock.send(data)  # the usual case: all of it at once
    if sent == len(data):
        return
    view = memoryview(data)
    while sent < len(data):
        if time.monotonic() > deadline:
            raise TimeoutError("timed out sending the response")
        try:
            sent += sock.send(view[sent:])
        except BlockingIOError:  # EAGAIN: SO_SNDTIMEO ran out
            raise TimeoutError("timed out sending the response") from None


_TIMED_OUT = ("Your socket connection to the server was not read from or written to within "
              "the timeout period.")


class _Handler(socketserver.StreamRequestHandler):
    """One connection: requests read and answered in turn until either side closes."""

    server: SimulatorServer

    def setup(self) -> None:
        """``StreamRequestHandler.setup`` with the server's read timeout, kept by the kernel."""
        self._seconds = seconds = self.server.read_timeout
        sock = self.connection = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        kernel = _KERNEL_READS and _kernel_timeouts(sock, seconds)
        if not kernel:  # Python's own timeout, polling before each call
            sock.settimeout(seconds)
        self._raw = _RequestReader(sock, seconds, kernel)
        self.rfile = self._buffered = io.BufferedReader(self._raw)

    def finish(self) -> None:
        self.rfile.close()  # responses go out by send_all: there is no wfile

    def handle(self) -> None:
        try:
            while self._one():
                pass
        except OSError:  # reset, broken pipe, or nothing sent in time: nobody to answer
            pass

    def _send(self, response: Response, close: bool) -> None:
        send_all(self.request, response_bytes(response, close), self._seconds)

    def _refuse(self, response: Response) -> bool:
        """Answer a request that is not read on, and close the connection: the write side
        is shut, then what the client still sends is read and dropped until it closes or
        ``LINGER_SECONDS`` pass (a lingering close, as Apache and nginx do). Closing with
        unread input sends a reset, which can destroy the answer in the client's kernel
        before it is read (an unsupported Transfer-Encoding's body, a body too large, bytes
        trickling in after a timeout). False: the connection is done."""
        self._send(response, True)
        sock, raw = self.request, self._raw
        sock.shutdown(socket.SHUT_WR)
        raw.deadline = time.monotonic() + LINGER_SECONDS
        scratch = bytearray(65536)
        try:
            while raw.readinto(scratch):
                pass
        except OSError:  # the linger ran out (TimeoutError), or a reset
            pass
        return False

    def _one(self) -> bool:
        """Serve one request; False when the connection is to be closed."""
        rfile, raw, seconds = self._buffered, self._raw, self._seconds
        raw.deadline = None
        try:
            if not rfile.peek(1):  # the request's first byte (a receive unless pipelined)
                return False  # the client closed
        except TimeoutError:
            return False  # an idle keep-alive connection
        raw.deadline = time.monotonic() + seconds  # the whole request must be in by then
        try:
            line = _request_line(rfile)
            if line in (b"\r\n", b"\n"):  # "SHOULD ignore at least one empty line" (RFC 9112)
                line = _request_line(rfile)
            if not line:
                return False
            parts = line.decode("iso-8859-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                raise BadRequest(400, "SerializationException",
                                 f"(fargate-sim: bad request line {line[:60]!r})")
            method, target, version = parts
            headers = read_headers(rfile)
            connection = headers.get("connection")
            if connection is None:  # the usual case: HTTP/1.1 keeps the connection open
                close = version == "HTTP/1.0"
            else:
                connection = connection.lower()
                close = "close" in connection or (version == "HTTP/1.0"
                                                  and "keep-alive" not in connection)
            if method not in METHODS:
                raise BadRequest(501, "BadRequest",
                                 f"(fargate-sim: unsupported method {method!r})")
            length = body_length(headers)  # refused before the client is asked for the body
            if length is None and (version == "HTTP/1.0" or "content-length" in headers):
                # Chunked with a Content-Length, or in HTTP/1.0: answered, then the
                # connection is closed, as RFC 9112, 6.1 and 6.3 require (a way to smuggle a
                # request past a proxy that frames the body otherwise).
                close = True
            expect = headers.get("expect")
            if expect is not None and expect.lower() == "100-continue":
                send_all(self.request, b"HTTP/1.1 100 Continue\r\n\r\n", seconds)
            body = read_length(rfile, length)
        except BadRequest as exc:
            return self._refuse(json_error(exc.status, exc.code, exc.message))
        except TimeoutError:  # the request was not all in by its deadline
            return self._refuse(json_error(400, "RequestTimeout", _TIMED_OUT))
        path, _, query = target.partition("?")
        path = path.partition("#")[0]
        if path.startswith(("http://", "https://")):  # an absolute-form target
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        response = self.server.endpoint.handle(method, path or "/", query.partition("#")[0],
                                               headers, body, self.client_address[0])
        self._send(response, close)
        return not close


def serve(sim: Any, host: str = "127.0.0.1", port: int = 0,
          principals: dict[str, str] | None = None, *,
          read_timeout: float = READ_TIMEOUT_SECONDS, max_connections: int = MAX_CONNECTIONS,
          **options: Any) -> SimulatorServer:
    """Start serving ``sim`` in a background thread; ``server.shutdown()`` stops it.

    ``options`` go to ``Endpoint`` (``auth=Authenticator(...)``, ``store=``, ``speed=``,
    ``make_sim=``). Without ``auth``, requests are not verified and ``principals`` maps
    access key ids to the principal they call as (the root otherwise). ``read_timeout``
    and ``max_connections`` go to ``SimulatorServer``.
    """
    endpoint = Endpoint(sim, principals=principals, **options)
    server = SimulatorServer(endpoint, (host, port), read_timeout=read_timeout,
                             max_connections=max_connections)
    threading.Thread(target=server.serve_forever, name="fargate-sim-api", daemon=True).start()
    return server


__all__ = ["BadRequest", "SimulatorServer", "body_length", "read_body", "read_headers",
           "read_length", "send_all", "serve"]
