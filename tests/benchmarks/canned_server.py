"""A server answering every request with one canned HTTP response, for the endpoint floors.

    python -m tests.benchmarks.canned_server {plain,http-layer} < response.bin

Reads the response (status line, headers, body) from stdin, listens on a free loopback port,
prints the port, and answers every request with that response (``plain``: one connection at a time):

- ``plain``: the fewest steps a server can take (read lines up to the blank one and the
  ``Content-Length`` body, send the bytes): what boto3 alone costs, the client's floor.
- ``http-layer``: ``simulator.api.server``'s own HTTP reader and writer (timeouts, bounds,
  ``Date``, one send) in front of an endpoint that returns the canned answer: the floor of
  any simulator behind this HTTP layer, so the gap to the real server is the simulation's.

It runs in its own process, as the real server does, so both pay the same wake-ups.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any

from simulator.api.endpoint import Response


def parse_response(raw: bytes) -> Response:
    """(status, headers without the ones the server writes itself, body) of a response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() not in ("server", "date", "content-length", "connection"):
            headers[name] = value.strip()
    return status, headers, body


def plain(raw: bytes) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:  # one connection at a time
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = conn.makefile("rb")
        while True:
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                break
            f.read(length)
            conn.sendall(raw)
        f.close()
        conn.close()


class CannedEndpoint:
    """What ``SimulatorServer`` needs of an ``Endpoint``, answering one canned response."""

    store = None
    sim = None

    def __init__(self, response: Response) -> None:
        self.response = response
        self.lock = threading.RLock()

    def handle(self, *request: Any) -> Response:
        return self.response

    def tick(self) -> None:
        pass


def http_layer(raw: bytes) -> None:
    from simulator.api.server import SimulatorServer

    server = SimulatorServer(CannedEndpoint(parse_response(raw)))  # type: ignore[arg-type]
    print(server.server_address[1], flush=True)
    server.serve_forever()


def main() -> int:
    raw = sys.stdin.buffer.read()
    {"plain": plain, "http-layer": http_layer}[sys.argv[1]](raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
