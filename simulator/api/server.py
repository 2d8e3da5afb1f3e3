"""A local HTTP endpoint speaking AWS's JSON protocol for KMS and ECS.

Point boto3 or the AWS CLI at it (``endpoint_url="http://127.0.0.1:PORT"``). The caller is
chosen by the access key id of the request's signature: ``--principal AKID=ARN`` maps keys to
principals; any other key calls as the account root. Signatures are not verified (the
simulator is a local tool); calls are serialised through one lock, in arrival order.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulator.api.wire import WireError, decode, encode
from simulator.errors import ClientError
from simulator.models import service_model

#: X-Amz-Target prefix -> simulator service name.
TARGETS = {
    service_model(name).metadata["targetPrefix"]: name for name in ("kms", "ecs")
}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]*/([^/]*)/")


class SimulatorServer(ThreadingHTTPServer):
    """An HTTP server bound to one Simulation."""

    daemon_threads = True

    def __init__(self, sim: Any, address: tuple[str, int] = ("127.0.0.1", 0),
                 principals: dict[str, str] | None = None) -> None:
        super().__init__(address, _Handler)
        self.sim = sim
        self.principals = dict(principals or {})
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        pass

    def _reply(self, status: int, body: dict[str, Any], request_id: str = "") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        if request_id:
            self.send_header("x-amzn-RequestId", request_id)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._reply(status, {"__type": code, "message": message})

    def do_POST(self) -> None:
        target = self.headers.get("X-Amz-Target", "")
        prefix, _, operation = target.partition(".")
        service = TARGETS.get(prefix)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        if service is None:
            self._error(400, "UnknownOperationException",
                        f"X-Amz-Target {target!r} names no service the simulator serves")
            return
        model = service_model(service)
        if operation not in model.operation_names:
            self._error(400, "UnknownOperationException", f"{service} has no operation {operation}")
            return
        op = model.operation_model(operation)
        try:
            params = decode(op.input_shape, json.loads(raw or b"{}"))
        except (json.JSONDecodeError, WireError) as exc:
            self._error(400, "SerializationException", f"the request body is not valid: {exc}")
            return
        m = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        principal = self.server.principals.get(m.group(1)) if m else None
        region = self.server.sim.region
        if m and m.group(2) and m.group(2) != region:
            self._error(400, "InvalidSignatureException",
                        f"this endpoint simulates {region}; the request was signed for "
                        f"{m.group(2)} (use --region {region})")
            return
        with self.server.lock:
            try:
                client = self.server.sim.client(service, principal=principal)
                response = client.call(operation, params or {})
            except ClientError as exc:
                self._error(exc.status, exc.code, exc.message)
                return
        self._reply(200, encode(op.output_shape, response) or {},
                    response["ResponseMetadata"]["RequestId"])


def serve(sim: Any, host: str = "127.0.0.1", port: int = 0,
          principals: dict[str, str] | None = None) -> SimulatorServer:
    """Start serving ``sim`` in a background thread; ``server.shutdown()`` stops it."""
    server = SimulatorServer(sim, (host, port), principals)
    threading.Thread(target=server.serve_forever, name="fargate-sim-api", daemon=True).start()
    return server
