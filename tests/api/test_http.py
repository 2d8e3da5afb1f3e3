"""The HTTP layer: keep-alive, malformed requests answered in AWS's shape, bounded reads."""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import socket
import threading
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.api import DEFAULT_ROOT_KEY, Authenticator, serve
from simulator.api import server as server_module
from tests.api.conftest import make_sim

TARGET = "TrentService.ListKeys"


def _raw(server, data: bytes, timeout: float = 10) -> bytes:
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
        return out


def _signed(body: bytes, target: str) -> str:
    """SigV4 headers for ``body`` as the root signs it (malformed bodies get past identity)."""
    request = AWSRequest("POST", "http://x/", data=body, headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1", "Host": "x"})
    SigV4Auth(Credentials(*DEFAULT_ROOT_KEY), "kms", "us-west-2").add_auth(request)
    return "".join(f"{k}: {request.headers[k]}\r\n" for k in ("X-Amz-Date", "Authorization"))


def _request(body: bytes, target: str = TARGET, extra: str = "", sign: bool = True) -> bytes:
    auth = _signed(body, target) if sign else ""
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {target}\r\n"
            f"Content-Type: application/x-amz-json-1.1\r\n{auth}{extra}")
    if "Content-Length" not in extra and "Transfer-Encoding" not in extra:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def _parse(raw: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body) if body else {}


@pytest.mark.parametrize("body,extra", [
    (b"5", ""),                                   # a number as the body
    (b"[1, 2]", ""),                              # not an object
    (b"{" * 5000 + b"}" * 5000, ""),              # deep nesting
    (b"\xff\xfe\x00{", ""),                       # not UTF-8
    (b"{not json", ""),
    (b"{}", "Content-Length: -3\r\n"),            # negative length
    (b"{}", "Content-Length: abc\r\n"),           # not a length
])
def test_malformed_requests_get_400_and_an_aws_error(server, body, extra):
    status, headers, err = _parse(_raw(server, _request(body, extra=extra)))
    assert status == 400
    assert err["__type"] == "SerializationException"
    assert headers["x-amzn-requestid"]


def test_an_unknown_target_is_unknown_operation(server):
    status, headers, err = _parse(_raw(server, _request(b"{}", target="Nope.Nothing")))
    assert (status, err["__type"]) == (400, "UnknownOperationException")
    assert headers["x-amzn-requestid"]


def test_a_body_shorter_than_its_length_does_not_hold_a_thread(server, monkeypatch):
    monkeypatch.setattr(server, "read_timeout", 0.5)
    raw = _raw(server, _request(b"{}", extra="Content-Length: 100\r\n"))
    status, _, err = _parse(raw)
    assert status == 400 and err["__type"] == "RequestTimeout"


def test_an_oversized_body_is_refused_before_it_is_read(server):
    extra = f"Content-Length: {server_module.MAX_BODY_BYTES + 1}\r\n"
    status, _, err = _parse(_raw(server, _request(b"", extra=extra)))
    assert status == 413 and err["__type"] == "RequestEntityTooLarge"


def test_chunked_bodies_are_decoded(server):
    body = b'{"Limit": 5}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    auth = _signed(body, TARGET)  # the signature covers the decoded body
    status, _, out = _parse(_raw(server, _request(
        chunked, extra=auth + "Transfer-Encoding: chunked\r\n", sign=False)))
    assert status == 200 and out["Keys"] == []


def test_keep_alive_serves_many_requests_on_one_connection(server):
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        for _ in range(20):
            s.sendall(_request(b"{}", sign=False))
            status_line = f.readline()
            assert b" 400 " in status_line
            length = 0
            while (line := f.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert json.loads(f.read(length))["__type"] == "MissingAuthenticationTokenException"


def test_the_listen_backlog_takes_a_burst_of_connections(server):
    assert server.request_queue_size >= 128
    errors: list[Exception] = []

    def one():
        try:
            _parse(_raw(server, _request(b"{}")))
        except Exception as exc:  # a reset connection
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(150)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_malformed_request_line_gets_an_aws_shaped_400(server):
    status, _, err = _parse(_raw(server, b"GARBAGE\r\n\r\n"))
    assert status == 400 and err["__type"] == "SerializationException"


def test_identity_is_checked_before_the_body_is_read_as_json(server):
    status, _, err = _parse(_raw(server, _request(b"5", sign=False)))
    assert (status, err["__type"]) == (400, "MissingAuthenticationTokenException")


def test_an_idle_keep_alive_connection_is_closed_after_the_read_timeout(server, monkeypatch):
    monkeypatch.setattr(server, "read_timeout", 0.3)
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(_request(b"{}", sign=False))
        first = s.recv(65536)
        assert b" 400 " in first.split(b"\r\n", 1)[0]  # answered, then left idle
        rest = b""
        while chunk := s.recv(65536):  # the server closes: recv sees the end
            rest += chunk
    assert rest == b""


def test_the_read_timeout_is_kept_by_the_kernel_without_python_polling():
    # A socket with a Python-side timeout polls before every recv and send; the handler's
    # sockets stay blocking with SO_RCVTIMEO/SO_SNDTIMEO instead.
    a, b = socket.socketpair()
    with a, b:
        assert server_module._kernel_timeouts(a, 0.2)
        assert a.gettimeout() is None
        reader = server_module._RequestReader(a, 0.2, kernel=True)
        with pytest.raises(TimeoutError):
            reader.readinto(bytearray(10))
        b.sendall(b"abc")
        buf = bytearray(10)
        assert reader.readinto(buf) == 3 and bytes(buf[:3]) == b"abc"


@pytest.mark.parametrize("kernel", [True, False])
def test_a_request_deadline_holds_however_the_bytes_are_spaced(kernel):
    # The per-receive timeout (0.5 s) never runs out for a byte every 0.05 s; the deadline
    # (0.3 s from now) does, on the kernel-kept path and on Python's own timeout alike.
    a, b = socket.socketpair()
    stop = threading.Event()
    with a, b:
        if kernel:
            assert server_module._kernel_timeouts(a, 0.5)
        else:
            a.settimeout(0.5)
        reader = server_module._RequestReader(a, 0.5, kernel=kernel)
        feeder = threading.Thread(target=_trickle, args=(b, b"x" * 100, 0.05, stop))
        feeder.start()
        start = time.monotonic()
        reader.deadline = start + 0.3
        got = 0
        try:
            with pytest.raises(TimeoutError):
                while True:
                    got += reader.readinto(bytearray(10))
        finally:
            stop.set()
            feeder.join()
        assert 0.29 < time.monotonic() - start < 0.45 and got >= 2
        if not kernel:
            assert a.gettimeout() == 0.5  # back to the read timeout for the next wait


def test_a_reader_that_never_reads_cannot_hold_a_response_for_ever():
    a, b = socket.socketpair()
    with a, b:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        assert server_module._kernel_timeouts(a, 0.2)
        with pytest.raises(TimeoutError):  # b never reads: each send stops at the timeout
            server_module.send_all(a, b"x" * (8 << 20), 0.3)


def test_send_all_sends_everything_to_a_reader_that_reads():
    a, b = socket.socketpair()
    with a, b:
        assert server_module._kernel_timeouts(a, 5)
        data = bytes(range(256)) * 8192  # 2 MiB: more than one send takes
        got = bytearray()

        def read():
            while len(got) < len(data):
                got.extend(b.recv(65536))

        reader = threading.Thread(target=read)
        reader.start()
        server_module.send_all(a, data, 5)
        reader.join(10)
        assert bytes(got) == data


@pytest.mark.parametrize("seconds", [0, -1.0, None])
def test_no_kernel_timeout_without_a_positive_time(seconds):
    # A zero timeval is "no timeout" to the kernel: such a socket keeps Python's timeout.
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(0.5)
        assert not server_module._kernel_timeouts(a, seconds)
        assert a.gettimeout() == 0.5


def _answers(s: socket.socket, seconds: float = 10) -> tuple[bytes, float]:
    """Everything the server sends on ``s`` until it closes, and when it closed
    (``time.monotonic()``); a reset after the answer counts as the close."""
    s.settimeout(seconds)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return out, time.monotonic()
        out += chunk


def _trickle(s: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    """Send ``data`` a byte each ``every`` seconds, until ``stop`` or the server closes."""
    for i in range(len(data)):
        if stop.wait(every):
            return
        try:
            s.sendall(data[i:i + 1])
        except OSError:
            return


REQUEST_HEAD = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"


@pytest.mark.parametrize("sent", [
    "POST / HT",                                    # inside the request line
    "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Tar",      # inside the headers
    REQUEST_HEAD + "{",                             # inside the body
])
def test_a_request_trickled_past_its_deadline_is_answered_and_closed(server, monkeypatch,
                                                                     sent):
    # A byte every 0.2 s is far inside the read timeout of each receive; the whole request
    # still has to be in within the read timeout of its first byte.
    monkeypatch.setattr(server, "read_timeout", 1.0)
    stop = threading.Event()
    with socket.create_connection(server.server_address[:2], timeout=10) as s:
        start = time.monotonic()
        s.sendall(sent.encode())
        sender = threading.Thread(target=_trickle, args=(s, b"a" * 100, 0.2, stop))
        sender.start()
        try:
            raw, closed = _answers(s)
        finally:
            stop.set()
            sender.join()
    assert 0.9 < closed - start < 2.0
    status, headers, err = _parse(raw)
    assert (status, err["__type"]) == (400, "RequestTimeout")
    assert err["message"] == ("Your socket connection to the server was not read from or "
                              "written to within the timeout period.")
    assert headers["x-amzn-requestid"] and headers["connection"] == "close"


def test_a_request_sent_in_pieces_inside_its_deadline_is_served(server, monkeypatch):
    monkeypatch.setattr(server, "read_timeout", 1.0)
    body = b'{"Limit": 5}'
    data = _request(body)
    with socket.create_connection(server.server_address[:2], timeout=10) as s:
        for piece in (data[:7], data[7:60], data[60:-3], data[-3:]):
            s.sendall(piece)
            time.sleep(0.15)
        raw = s.recv(65536)
    status, _, out = _parse(raw)
    assert status == 200 and out["Keys"] == []


@contextlib.contextmanager
def _capped_server(cap: int):
    srv = serve(make_sim(), auth=Authenticator(), speed=0.0, make_sim=make_sim,
                max_connections=cap)
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def test_connections_past_the_cap_wait_in_the_backlog_without_threads():
    cap = 3
    with _capped_server(cap) as srv, contextlib.ExitStack() as stack:
        address = srv.server_address[:2]
        threads = threading.active_count()
        held = []
        for _ in range(cap):  # each answered, then left open and idle: a slot each
            s = stack.enter_context(socket.create_connection(address, timeout=10))
            s.sendall(_request(b"{}", sign=False))
            assert b" 400 " in s.recv(65536).split(b"\r\n", 1)[0]
            held.append(s)
        waiting = []
        for _ in range(20):  # accepted by the kernel, not by the server
            s = stack.enter_context(socket.create_connection(address, timeout=10))
            s.sendall(_request(b"{}", extra="Connection: close\r\n", sign=False))
            waiting.append(s)
        time.sleep(0.5)
        for s in waiting:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):  # not answered
                s.recv(1)
            s.setblocking(True)
        assert srv.connections == cap
        assert threading.active_count() - threads <= cap
        for s in held:  # slots free: the waiting connections are served in turn
            s.close()
        for s in waiting:
            raw, _ = _answers(s)
            status, headers, err = _parse(raw)
            assert (status, err["__type"]) == (400, "MissingAuthenticationTokenException")
            assert headers["connection"] == "close"
        assert threading.active_count() - threads <= cap


def test_a_full_server_still_shuts_down_promptly():
    with _capped_server(1) as srv, contextlib.ExitStack() as stack:
        address = srv.server_address[:2]
        first = stack.enter_context(socket.create_connection(address, timeout=10))
        first.sendall(_request(b"{}", sign=False))
        first.recv(65536)
        stack.enter_context(socket.create_connection(address, timeout=10))  # waits
        time.sleep(0.2)
        start = time.monotonic()
        srv.shutdown()
        assert time.monotonic() - start < 2 * server_module.ACCEPT_WAIT_SECONDS + 0.5
        first.close()


def _te_request(coding: str, body: bytes, chunk: bool) -> bytes:
    sent = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunk else body
    return _request(sent, extra=_signed(body, TARGET) + f"Transfer-Encoding: {coding}\r\n",
                    sign=False)


def _one_answer_then_close(server, data: bytes) -> tuple[int, dict[str, str], dict]:
    """The one answer to ``data`` (asserted: nothing after it, the connection closed)."""
    with socket.create_connection(server.server_address[:2], timeout=10) as s:
        s.sendall(data)
        raw, _ = _answers(s)
    status, headers, err = _parse(raw)
    assert raw.count(b"HTTP/1.1 ") == 1 and headers["connection"] == "close"
    return status, headers, err


@pytest.mark.parametrize("coding,chunk", [
    ("gzip", False),            # was read as no body, and the gzip bytes as the next request
    ("gzip, chunked", True),    # was de-chunked and the gzip bytes taken for JSON
    ("deflate,chunked", True),
    ("x-chunked", False),       # was chunked: "chunked" in it
])
def test_a_transfer_coding_other_than_chunked_is_501_and_closes(server, coding, chunk):
    # RFC 9112, 6.1: a server that receives a transfer coding it does not understand
    # answers 501 (Not Implemented).
    body = gzip.compress(b'{"Limit": 5}')
    status, headers, err = _one_answer_then_close(server, _te_request(coding, body, chunk))
    assert (status, err["__type"]) == (501, "NotImplemented")
    assert coding in err["message"] and headers["x-amzn-requestid"]


@pytest.mark.parametrize("coding", ["chunked, gzip", "chunked, chunked", "chunked;x=1, identity",
                                    ""])
def test_chunked_not_the_last_coding_is_400_and_closes(server, coding):
    # RFC 9112, 6.3: Transfer-Encoding without chunked last leaves the body without a
    # length: 400, then close.
    status, headers, err = _one_answer_then_close(
        server, _te_request(coding, b'{"Limit": 5}', True))
    assert (status, err["__type"]) == (400, "SerializationException")
    assert headers["x-amzn-requestid"]


def test_a_refused_body_is_read_and_dropped_so_the_client_can_finish_and_read(server):
    # RFC 9112, 9.6: closing with the body unread resets the connection (the client's send
    # broke with EPIPE here, 8 MiB into loopback's buffers), and a reset can destroy the
    # answer before the client reads it; the server half-closes and drains instead.
    body = bytes(range(256)) * 32768  # 8 MiB, more than the socket buffers take
    data = _te_request("gzip", body, False)
    failed: list[OSError] = []
    with socket.create_connection(server.server_address[:2], timeout=10) as s:
        def send():
            try:
                s.sendall(data)
            except OSError as exc:
                failed.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        sender.join(10)
        raw, _ = _answers(s)
    status, _, err = _parse(raw)
    assert (status, err["__type"]) == (501, "NotImplemented")
    assert failed == []


@pytest.mark.parametrize("coding", ["chunked", "Chunked", " CHUNKED ", "chunked,", ", chunked"])
def test_chunked_is_accepted_in_any_case_and_spacing(server, coding):
    body = b'{"Limit": 5}'
    status, headers, out = _parse(_raw(server, _te_request(coding, body, True)))
    assert status == 200 and out["Keys"] == [] and "connection" not in headers


def test_chunked_with_a_content_length_is_served_then_closed(server):
    # RFC 9112, 6.3: Transfer-Encoding overrides Content-Length, and the server MUST close
    # the connection after answering (the pair is how requests are smuggled past proxies).
    body = b'{"Limit": 5}'
    data = _te_request("chunked", body, True).replace(
        b"Transfer-Encoding", b"Content-Length: 3\r\nTransfer-Encoding")
    status, _, out = _one_answer_then_close(server, data)
    assert status == 200 and out["Keys"] == []


def _read(reader, data: bytes):
    """(fields or the refusal's status and code, the bytes left after the header block)."""
    rfile = io.BufferedReader(io.BytesIO(data))
    try:
        out = reader(rfile)
    except server_module.BadRequest as exc:
        return (exc.status, exc.code), None
    return out, rfile.read()


ODD_TEXT = st.lists(st.sampled_from(["a", "B", "-", " ", "\t", ":", "\r", "\n", "\xa0",
                                     "\x1c", "é", "x-amz-date", "Host"]),
                    max_size=8).map("".join)
# Mostly fields as clients write them (names repeated in either case, odd values), some
# lines of anything.
VALUE = st.lists(st.sampled_from(["v", " ", "\t", ":", "\r", "\xa0", "\x0b", "é"]),
                 max_size=6).map("".join)
FIELD = st.builds("{}:{}".format, st.sampled_from(["Host", "host", "X-Amz-Date", "a", "a b"]),
                  VALUE) | ODD_TEXT


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(FIELD, max_size=6), end=st.sampled_from(
    [b"\r\n\r\n", b"\r\n\r\n", b"\n\n", b"\r\n\n", b"\r\n", b""]),
    more=st.sampled_from([0, 0, 0, server_module.MAX_HEADERS - 6, server_module.MAX_HEADERS]))
def test_the_whole_block_reader_reads_as_the_line_reader(lines, end, more):
    """A header block read from the buffer at once gives what reading it line by line
    gives (fields, refusal, where the body starts), whatever the lines hold."""
    lines = lines + ["a: b"] * more  # around the most fields a request may have
    data = "\r\n".join(lines).encode("iso-8859-1") + end + b"BODY"
    assert _read(server_module.read_headers, data) == \
        _read(server_module._read_header_lines, data)


@pytest.mark.parametrize("target,body,aws,where", [
    ("TrentService.ListKeys", {"Limit": True},
     "class java.lang.Boolean can not be converted to an Integer", "Limit"),
    ("TrentService.ListKeys", {"Limit": "5"}, "STRING_VALUE can not be converted to an Integer",
     "Limit"),
    ("TrentService.ListKeys", {"Limit": 2.5}, "NUMBER_VALUE can not be converted to an Integer",
     "Limit"),
    ("TrentService.GenerateRandom", {"NumberOfBytes": True},
     "class java.lang.Boolean can not be converted to an Integer", "NumberOfBytes"),
    ("TrentService.CreateKey", {"Description": 5},
     "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to "
     "an String", "Description"),
    ("TrentService.CreateKey", {"BypassPolicyLockoutSafetyCheck": "yes"},
     "STRING_VALUE can not be converted to a Boolean", "BypassPolicyLockoutSafetyCheck"),
    ("TrentService.CreateKey", {"Tags": {"TagKey": "a", "TagValue": "b"}},
     "Start of structure or map found where not expected.", "Tags"),
    ("TrentService.CreateKey", {"Tags": [["a"]]},
     "Start of list found where not expected.", "Tags[0]"),
])
def test_a_json_value_of_the_wrong_type_is_a_serialization_exception(server, target, body,
                                                                      aws, where):
    """AWS's JSON front end refuses a value its member cannot take before the service sees
    it (botocore lets True through as an integer; other SDKs and hand-made requests send
    anything), naming no Python type."""
    status, _, err = _parse(_raw(server, _request(json.dumps(body).encode(), target)))
    assert (status, err["__type"]) == (400, "SerializationException")
    assert err["message"].startswith(aws) and f"fargate-sim: {where} is a JSON" in err["message"]
    assert "<class" not in err["message"]


def test_a_whole_number_sent_as_a_float_is_that_number(server):
    status, _, out = _parse(_raw(server, _request(b'{"NumberOfBytes": 16.0}',
                                                  "TrentService.GenerateRandom")))
    assert status == 200 and len(base64.b64decode(out["Plaintext"])) == 16


def test_members_the_model_does_not_have_are_skipped_and_named_beside_the_answer(server):
    """AWS's JSON services skip members they do not know (a newer SDK's member reaches an
    older service that way); the answer is AWS's, and a header names what was skipped."""
    body = {"Description": "d", "NewMember": {"x": 1},
            "Tags": [{"TagKey": "a", "TagValue": "b", "Colour": "red"}]}
    status, headers, out = _parse(_raw(server, _request(json.dumps(body).encode(),
                                                        "TrentService.CreateKey")))
    assert status == 200 and out["KeyMetadata"]["Description"] == "d"
    note = headers["x-fargate-sim-explanation"]
    assert "NewMember" in note and "Tags[0].Colour" in note
    key = out["KeyMetadata"]["KeyId"]
    body = json.dumps({"KeyId": key}).encode()
    _, _, tags = _parse(_raw(server, _request(body, "TrentService.ListResourceTags")))
    assert tags["Tags"] == [{"TagKey": "a", "TagValue": "b"}]


def test_a_known_request_carries_no_note(server):
    _, headers, _ = _parse(_raw(server, _request(b'{"Limit": 5}')))
    assert "x-fargate-sim-explanation" not in headers


@pytest.mark.parametrize("target,body", [
    ("TrentService.ListKeys", {"Limit": None, "Marker": None}),
    ("TrentService.CreateKey", {"Description": None, "Tags": None, "KeyUsage": None}),
])
def test_a_null_member_is_an_absent_member(server, target, body):
    """JSON ``null`` in a structure member is the member left out, as AWS reads it (never
    botocore's "Invalid type ... <class 'NoneType'>")."""
    status, _, out = _parse(_raw(server, _request(json.dumps(body).encode(), target)))
    assert status == 200, out
    if target.endswith("CreateKey"):
        assert out["KeyMetadata"]["KeyUsage"] == "ENCRYPT_DECRYPT"


@pytest.mark.parametrize("target,body,where", [
    ("TrentService.CreateKey", {"Tags": [{"TagKey": "a", "TagValue": "b"}, None]},
     "tags.2.member"),
    ("TrentService.Encrypt", {"KeyId": "k", "Plaintext": "AA==",
                              "EncryptionContext": {"a": None}}, "encryptionContext.value"),
])
def test_a_null_in_a_list_or_map_is_refused_in_aws_words(server, target, body, where):
    status, _, err = _parse(_raw(server, _request(json.dumps(body).encode(), target)))
    assert (status, err["__type"]) == (400, "ValidationException")
    assert err["message"] == (f"1 validation error detected: Value null at '{where}' failed "
                              "to satisfy constraint: Member must not be null")
