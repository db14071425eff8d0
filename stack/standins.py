"""Local stand-ins for the systems at either end, for the local stack (``liaison demo``).

- :class:`NativeSender` plays the national systems: it turns synthetic records into what
  each system sends, CEN export files dropped in the inbox (CSV and XML in turn), CIS+
  records and police alerts POSTed to the HTTP sources with the sender's token, and the
  first alerts as one watchlist bulk import.
- :class:`PartnerIntake` plays the partners' endpoints the HTTP sinks deliver to: it checks
  the bearer token and the ``Idempotency-Key``, keeps each event once (a repeat is answered
  but not kept twice) in ``<endpoint>.jsonl``, and counts what it received.

Both count what they see so the local stack can print per-connector figures; neither is
part of a deployment.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from stack.native import CenExports, native_form
from stack.synthetic.generator import SyntheticRecord

__all__ = ["IntakeFigures", "NativeSender", "PartnerIntake", "SenderFigures"]


@dataclass
class SenderFigures:
    records: Counter[str] = field(default_factory=Counter)  # per system
    answers: dict[str, Counter[str]] = field(default_factory=dict)  # endpoint -> status
    bulk: Counter[str] = field(default_factory=Counter)  # lines, accepted, rejected
    files: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # per system

    @property
    def failed(self) -> int:
        """Requests without an answer or answered with a server error: not taken."""
        return sum(
            n
            for answers in self.answers.values()
            for status, n in answers.items()
            if not status.isdigit() or int(status) >= 500
        )


class NativeSender:
    """Sends synthetic records the way the national systems would."""

    def __init__(
        self,
        *,
        inbox: Path,
        urls: dict[str, str],  # "cisplus"/"police" -> base URL
        tokens: dict[str, str],  # "cisplus"/"police" -> the sender's token
        batch_rows: int = 200,
        batch_age_s: float = 2.0,
        bulk_alerts: int = 40,
        max_in_flight: int = 64,
        retry_s: float = 0.0,
    ) -> None:
        self.figures = SenderFigures()
        # How long a request that got no answer or a server error is tried again (0: never),
        # as a national system does when the interface is down for a moment.
        self._retry_s = retry_s
        self._abandoned = False
        self._urls, self._tokens = urls, tokens
        self._exports = CenExports(inbox, size=batch_rows, prefix="export")
        self._batch_age_s = batch_age_s
        self._batch_started: float | None = None
        self._bulk: list[str] | None = [] if bulk_alerts else None
        self._bulk_size = bulk_alerts
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sender")
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()

    def send(self, record: SyntheticRecord) -> bool:
        """Hand one record to its system's interface; False if it has nothing to send."""
        native = native_form(record)
        if native is None:
            return False
        self.figures.records[native.system] += 1
        if native.cen_row is not None:
            if self._exports.pending == 0:
                self._batch_started = time.monotonic()
            self._exports.add(*native.cen_row)
            self._count_files()
        elif native.system == "police" and self._bulk is not None:
            self._bulk.append(native.body)
            if len(self._bulk) >= self._bulk_size:
                self._send_bulk()
        else:
            path = "records" if native.system == "cisplus" else "alerts"
            self._post(native.system, path, native.body.encode())
        return True

    def tick(self) -> None:
        """Drop the pending CEN export once it is old enough."""
        started = self._batch_started
        if started is not None and time.monotonic() - started >= self._batch_age_s:
            self._flush_exports()

    def flush(self) -> None:
        """Drop the pending CEN export now."""
        if self._exports.pending:
            self._flush_exports()

    def close(self, timeout_s: float = 60.0) -> None:
        """Send what is pending and wait for the answers."""
        self._flush_exports()
        if self._bulk:
            self._send_bulk()
        self._pool.shutdown(wait=True, cancel_futures=False)
        del timeout_s  # each request carries its own timeout

    def abandon(self) -> None:
        """Stop trying again (a run that ends early): each request in hand ends with the
        answer it gets next, and nothing queued is sent."""
        self._abandoned = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _flush_exports(self) -> None:
        # CSV and XML in turn, so both layouts travel.
        self._exports.flush("xml" if self._exports.files % 2 else "csv")
        self._batch_started = None
        self._count_files()

    def _count_files(self) -> None:
        self.figures.files = self._exports.files

    def _send_bulk(self) -> None:
        lines, self._bulk = self._bulk or [], None  # one import, then alert by alert
        body = ("\n".join(lines) + "\n").encode()
        self._post("police", "alerts/bulk", body, bulk_lines=len(lines))

    def _post(self, system: str, path: str, body: bytes, bulk_lines: int = 0) -> None:
        self._slots.acquire()
        future = self._pool.submit(self._request, system, path, body)
        future.add_done_callback(lambda done: self._answered(system, done, bulk_lines))

    def _request(self, system: str, path: str, body: bytes) -> tuple[str, dict[str, object]]:
        deadline = time.monotonic() + self._retry_s
        while True:
            status, answer = self._request_once(system, path, body)
            taken = status.isdigit() and int(status) < 500 and status != "429"
            if taken or self._abandoned or time.monotonic() >= deadline:
                return status, answer
            with self._lock:
                self.figures.retries[system] += 1
            time.sleep(0.5)

    def _request_once(self, system: str, path: str, body: bytes) -> tuple[str, dict[str, object]]:
        request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
            f"{self._urls[system]}/v1/{path}",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self._tokens[system]}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return str(response.status), json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return str(error.code), {}
        except (OSError, ValueError) as error:
            return type(error).__name__, {}

    def _answered(
        self, system: str, done: Future[tuple[str, dict[str, object]]], bulk_lines: int
    ) -> None:
        self._slots.release()
        status, answer = done.result()
        with self._lock:
            name = f"{system}-bulk" if bulk_lines else system
            self.figures.answers.setdefault(name, Counter())[status] += 1
            if bulk_lines and status == "200":
                rejected = answer.get("rejected")
                self.figures.bulk["lines"] += bulk_lines
                self.figures.bulk["accepted"] += int(str(answer.get("accepted", 0)))
                self.figures.bulk["rejected"] += len(rejected) if isinstance(rejected, list) else 0


@dataclass
class IntakeFigures:
    requests: int = 0
    kept: int = 0
    repeats: int = 0
    refused: int = 0
    unavailable: int = 0  # answered 503 while playing a fault
    # The most recent end-to-end latencies (ingest to the partner's intake), in ms.
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))


class PartnerIntake:
    """Partners' HTTP endpoints on one loopback port: ``POST /v1/<endpoint>/events``."""

    def __init__(self, tokens: dict[str, str], directory: Path, host: str = "127.0.0.1") -> None:
        self.tokens = tokens  # endpoint -> the token the sink must present
        self.directory, self.host = directory, host
        self.figures = {endpoint: IntakeFigures() for endpoint in tokens}
        self._seen: dict[str, set[str]] = {endpoint: set() for endpoint in tokens}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = 0
        self._error: BaseException | None = None
        # A fault to play (the fault-injection suite): "unavailable" answers 503, "hang"
        # holds each request unanswered until the fault ends; "" is a healthy partner.
        self.fault = ""
        # (when kept, when its input was ingested), wall-clock seconds, for each event kept.
        self.received: deque[tuple[float, float]] = deque(maxlen=200_000)

    def url(self, endpoint: str) -> str:
        return f"http://{self.host}:{self.port}/v1/{endpoint}/events"

    def start(self, timeout_s: float = 10.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="partner-intake", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise RuntimeError(f"the partner intake did not start: {self._error}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/{endpoint}/events", self._receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        try:
            await asyncio.to_thread(self._stop.wait)
        finally:
            await runner.cleanup()

    async def _play_fault(self, figures: IntakeFigures) -> web.Response | None:
        """Hold the request while the partner hangs; a 503 while it is unavailable."""
        # ``fault`` is set from another thread: polled, not awaited as an asyncio.Event.
        while self.fault == "hang" and not self._stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        if self.fault == "unavailable":
            figures.unavailable += 1
            return web.json_response({"error": "unavailable for the moment"}, status=503)
        return None

    async def _receive(self, request: web.Request) -> web.Response:  # noqa: PLR0911 - one per answer
        endpoint = request.match_info["endpoint"]
        if endpoint not in self.tokens:
            return web.json_response({"error": "no such endpoint"}, status=404)
        figures = self.figures[endpoint]
        figures.requests += 1
        played = await self._play_fault(figures)
        if played is not None:
            return played
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.encode(), self.tokens[endpoint].encode()
        ):
            figures.refused += 1
            return web.json_response({"error": "a valid bearer token is required"}, status=401)
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            figures.refused += 1
            return web.json_response({"error": "Idempotency-Key is required"}, status=400)
        raw = await request.read()
        if key in self._seen[endpoint]:
            figures.repeats += 1
            return web.json_response({"status": "already received"}, status=200)
        try:
            body = json.loads(raw)
            ingested = datetime.fromisoformat(body["envelope"]["ingest_time"])
        except (ValueError, KeyError, TypeError):
            figures.refused += 1
            return web.json_response({"error": "not a Liaison event"}, status=422)
        now = datetime.now(UTC)
        figures.latencies_ms.append((now - ingested).total_seconds() * 1000)
        self.received.append((now.timestamp(), ingested.timestamp()))
        with (self.directory / f"{endpoint}.jsonl").open("ab") as out:
            out.write(raw.rstrip(b"\n") + b"\n")
        self._seen[endpoint].add(key)
        figures.kept += 1
        return web.json_response({"status": "received"}, status=201)
