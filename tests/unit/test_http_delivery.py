"""The HTTP sink's transport: TLS for anything that leaves the machine, verified against the
configured CA, against a real local TLS server (no broker needed)."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.http_sink import HttpDelivery
from liaison.errors import ConfigurationError, DeliveryRefusedError, EndpointUnavailableError
from tests.samples import realistic_seizure


@given(st.ip_addresses(v=4) | st.ip_addresses(v=6))
def test_plain_http_is_refused_for_anything_but_this_machine(address):
    host = f"[{address}]" if address.version == 6 else str(address)
    url = f"http://{host}:8080/v1/deliveries"
    if address.is_loopback:
        HttpDelivery(name="sink", url=url, token="t")  # a stand-in on this machine
    else:
        with pytest.raises(ConfigurationError, match="https"):
            HttpDelivery(name="sink", url=url, token="t")
    HttpDelivery(name="sink", url=f"https://{host}:8443/v1/deliveries", token="t")


def test_other_schemes_are_refused():
    for url in ("ftp://127.0.0.1/x", "file:///etc/hosts", "127.0.0.1:80/x"):
        with pytest.raises(ConfigurationError):
            HttpDelivery(name="sink", url=url, token="t")
    HttpDelivery(name="sink", url="http://localhost:9000/x", token="t")


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A local HTTPS endpoint with a certificate for 127.0.0.1 that no public CA signed."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(self.headers.get("Idempotency-Key", ""))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/v1/deliveries", cert, seen
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_against_the_configured_ca(tls_endpoint):
    url, ca, seen = tls_endpoint
    event = realistic_seizure()
    trusting = HttpDelivery(name="sink", url=url, token="t", timeout_s=5.0, ca_file=ca)
    trusting.put(event, None)  # type: ignore[arg-type] # put reads nothing of the message
    assert seen == [str(event.envelope.event_id)]
    # Without the CA the certificate is nobody's: the sink does not talk to it.
    doubting = HttpDelivery(name="sink", url=url, token="t", timeout_s=5.0)
    with pytest.raises(EndpointUnavailableError):
        doubting.put(event, None)  # type: ignore[arg-type]
    assert len(seen) == 1


@pytest.fixture
def endless_endpoint() -> Iterator[tuple[str, threading.Event]]:
    """A local endpoint that answers 200 and then a body that never ends (it trickles
    data until the test is over): a partner endpoint gone wrong, or hostile."""
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
            chunk = b"x" * 65536
            while not done.is_set():
                try:
                    self.wfile.write(chunk)
                except OSError:
                    return
                done.wait(0.05)

        def log_message(self, *_args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/deliveries", done
    finally:
        done.set()
        server.shutdown()
        server.server_close()


def test_the_answer_to_a_delivery_is_never_read_past_its_bound(endless_endpoint):
    """The status says whether the partner took the event: the sink reads a bounded part of
    the body after it and drops the connection, rather than holding (or waiting for) a
    body the partner can make as long as it likes."""
    url, _done = endless_endpoint
    sink = HttpDelivery(name="sink", url=url, token="t", timeout_s=5.0)
    sink.put(realistic_seizure(), None)  # type: ignore[arg-type] # put reads nothing of it
    sink.put(realistic_seizure(), None)  # type: ignore[arg-type] # a new connection serves
    sink.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_is_a_refusal_and_the_token_goes_nowhere_else(status):
    """Whatever the redirect (303 turns a POST into a GET elsewhere), the sink follows none:
    the delivery is refused with the status, and the other place never hears from it."""
    asked: list[str] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.end_headers()

        def do_POST(self) -> None:
            self.do_GET()

        def log_message(self, *_args: object) -> None:
            return None

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://127.0.0.1:{other.server_address[1]}/stolen"

    class Redirecting(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (server, other)]
    for thread in threads:
        thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/deliveries"
        sink = HttpDelivery(name="sink", url=url, token="secret-token", timeout_s=5.0)
        with pytest.raises(DeliveryRefusedError, match=str(status)):
            sink.put(realistic_seizure(), None)  # type: ignore[arg-type]
        sink.close()
    finally:
        for each in (server, other):
            each.shutdown()
            each.server_close()
    assert asked == []
