"""The CIS+ source as a national system meets it: real HTTP, the real broker."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.cisplus import format as cisplus
from connectors.police import format as police
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, EVENT
from liaison.kafka.client import KafkaConsumer, consumer_config
from liaison.kafka.embedded import free_port, read_log_tail
from liaison.kafka.topics import DEAD_LETTERS, INGEST_CISPLUS, INGEST_POLICE
from liaison.model.common import SourceSystem
from stack.synthetic.generator import Label, TrafficGenerator
from tests.integration.conftest import liaison_command, liaison_env

pytestmark = pytest.mark.integration

CUSTOMS_TOKEN = "tok-nl-customs-123-for-tests-only-000"
POLICE_TOKEN = "tok-nl-police-456-for-tests-only-0000"
TOKENS = f"cisplus:NL-CUSTOMS={CUSTOMS_TOKEN},police:NL-POLICE={POLICE_TOKEN}"


@pytest.fixture
def endpoint(declared_topics, tmp_path):
    yield from _serve(declared_topics, tmp_path, "cisplus")


@pytest.fixture
def police_endpoint(declared_topics, tmp_path):
    yield from _serve(declared_topics, tmp_path, "police")


def _serve(declared_topics, tmp_path, which: str, **settings_update):
    port = free_port()[0]
    settings = declared_topics.model_copy(update={f"{which}_port": port, **settings_update})
    env = {**liaison_env(settings), "LIAISON_HTTP_TOKENS": TOKENS}
    log = tmp_path / f"{which}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            liaison_command("connector", "run", f"{which}-source"),
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, read_log_tail(log)
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                break
        except OSError:
            assert time.monotonic() < deadline, read_log_tail(log)
            time.sleep(0.3)
    try:
        yield settings, url
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, read_log_tail(log)


def post(url: str, body: bytes, token: str | None, path: str = "records") -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{url}/v1/{path}", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def post_chunked(url: str, chunks: Iterator[bytes], token: str) -> int:
    """A body sent in chunks, with no length declared."""
    where = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        connection.request("POST", "/v1/records", body=chunks, headers=headers, encode_chunked=True)
        return connection.getresponse().status
    finally:
        connection.close()


def test_cis_records_over_http(endpoint):
    settings, url = endpoint
    records = [
        r
        for r in TrafficGenerator(seed=71).take(300)
        if r.event is not None
        and r.event.envelope.source_system is SourceSystem.CIS_PLUS
        and r.label is not Label.INVALID_VALUES
    ][:20]
    bodies = [json.dumps(cisplus.body_of(r.event)).encode() for r in records]  # type: ignore[arg-type]
    token = CUSTOMS_TOKEN

    answers = [post(url, body, token) for body in bodies]
    assert [status for status, _ in answers] == [202] * len(bodies)
    # Resending the same record and version is idempotent: same answer, same event id.
    assert post(url, bodies[0], token) == answers[0]

    bad = json.loads(bodies[1])
    bad["reporting_country"] = "ZZ"
    bad["record"]["items"][0]["quantity"]["amount"] = "a lot"
    status, errors = post(url, json.dumps(bad).encode(), token)
    assert status == 400
    assert errors["errors"][0]["field"] == "record.items[0].quantity.amount"
    invalid = json.loads(bodies[1])
    invalid["reporting_country"] = "ZZ"
    status, errors = post(url, json.dumps(invalid).encode(), token)
    assert (status, errors["errors"][0]["field"]) == (400, "reporting_country")
    assert post(url, b"{not json", token)[0] == 400
    assert post(url, b"{not json", token)[0] == 400  # sent again: the same dead letter id

    assert post(url, bodies[2], None)[0] == 401
    assert post(url, bodies[2], "forged")[0] == 401
    assert post(url, bodies[2], POLICE_TOKEN)[0] == 403
    # Too large: refused, and its beginning kept in a dead letter with the reason.
    oversize = b'{"record": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert post(url, oversize, token)[0] == 413
    # The same without a declared length: read up to the bound, then refused alike.
    chunked = (b'{"chunked": "' if n == 0 else b"y" * 65536 for n in range(20))
    assert post_chunked(url, chunked, token) == 413

    events, letters = AvroCodec(EVENT), AvroCodec(DEAD_LETTER_SCHEMA)
    received: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    dead_keys: set[bytes | None] = set()
    prefix = settings.topic_prefix
    topics = [INGEST_CISPLUS.full_name(prefix), DEAD_LETTERS.full_name(prefix)]
    with KafkaConsumer(consumer_config(settings, "check-http"), topics) as consumer:
        deadline = time.monotonic() + 60
        while (len(received) < len(bodies) + 1 or len(dead) < 6) and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout_s=0.5):
                if message.topic() == topics[0]:
                    received.append(events.decode(message.value() or b""))
                else:
                    dead.append(letters.decode(message.value() or b""))
                    dead_keys.add(message.key())
    ids = [str(e["envelope"]["event_id"]) for e in received]
    assert sorted(set(ids)) == sorted({answer["event_id"] for _, answer in answers})
    assert len(ids) == len(bodies) + 1  # the resent one is in Kafka twice, same id
    assert len(dead) == 6
    assert {d["original_value"] for d in dead} >= {b"{not json"}
    resent = {d["dead_letter_id"] for d in dead if d["original_value"] == b"{not json"}
    assert len(resent) == 1
    assert len({d["dead_letter_id"] for d in dead}) == 5
    declared, sent = sorted(
        (d for d in dead if "over 1 MiB" in d["error_message"]),
        key=lambda d: d["original_value"].startswith(b'{"chunked"'),
    )
    assert oversize.startswith(declared["original_value"])
    assert 0 < len(declared["original_value"]) < len(oversize)
    assert "cut" in declared["error_message"]
    assert sent["original_value"].startswith(b'{"chunked": "yyy')
    assert dead_keys == {b"cisplus-source"}  # the source's dead letters share a partition
    assert all("ZZ" not in d["error_message"] for d in dead)


def test_police_bodies_are_not_cis_records():
    alert = next(
        r.event
        for r in TrafficGenerator(seed=3).take(50)
        if r.event is not None and r.label is Label.ALERT
    )
    assert alert is not None
    with pytest.raises(Exception, match="CIS_PLUS"):
        cisplus.body_of(alert)
    assert police.body_of(alert)["alert"]["alert_reference"]


def test_police_alerts_over_http(police_endpoint):
    settings, url = police_endpoint
    alerts = [
        r.event
        for r in TrafficGenerator(seed=72).take(200)
        if r.event is not None and r.label is Label.ALERT
    ][:5]
    token = POLICE_TOKEN
    answers = [post(url, json.dumps(police.body_of(a)).encode(), token, "alerts") for a in alerts]
    assert [status for status, _ in answers] == [202] * len(alerts)
    cis_token = CUSTOMS_TOKEN
    assert post(url, json.dumps(police.body_of(alerts[0])).encode(), cis_token, "alerts")[0] == 403
    events = AvroCodec(EVENT)
    seen: set[str] = set()
    topic = INGEST_POLICE.full_name(settings.topic_prefix)
    with KafkaConsumer(consumer_config(settings, "check-police-http"), [topic]) as consumer:
        deadline = time.monotonic() + 60
        while len(seen) < len(alerts) and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout_s=0.5):
                seen.add(str(events.decode(message.value() or b"")["envelope"]["event_id"]))
    assert seen == {answer["event_id"] for _, answer in answers}


def test_a_watchlist_file_imports_in_bulk(police_endpoint):
    settings, url = police_endpoint
    alerts = [
        r.event
        for r in TrafficGenerator(seed=73).take(3000)
        if r.event is not None and r.label is Label.ALERT
    ][:120]
    lines = [json.dumps(police.body_of(a)) for a in alerts]
    lines[10] = lines[10][: len(lines[10]) // 2]  # cut short
    invalid = json.loads(lines[20])
    invalid["reporting_country"] = "ZZ"
    lines[20] = json.dumps(invalid)
    deep = "[" * 200_000 + "]" * 200_000  # nested past any parser's recursion
    lines[25] = deep
    lines.insert(30, "")  # blank lines are skipped, yet counted as lines
    text = ("\n".join(lines) + "\n").encode()
    token = POLICE_TOKEN

    status, answer = post(url, text, token, "alerts/bulk")
    assert status == 200, answer
    assert answer["accepted"] == len(alerts) - 3
    assert [r["line"] for r in answer["rejected"]] == [11, 21, 26]
    assert "deeper" in answer["rejected"][2]["errors"][0]["reason"]
    assert answer["rejected"][1]["errors"] == [
        {"field": "reporting_country", "reason": answer["rejected"][1]["errors"][0]["reason"]}
    ]
    assert post(url, text, CUSTOMS_TOKEN, "alerts/bulk")[0] == 403
    # One record's endpoint still takes one record of at most 1 MiB.
    assert post(url, b"{" + b" " * (1024 * 1024 + 10) + b"}", token, "alerts")[0] == 413
    # A body nested too deep is a bad request like any other, and a dead letter.
    status, answer = post(url, ('{"a":' * 5000 + "1" + "}" * 5000).encode(), token, "alerts")
    assert status == 400, answer
    assert "deeper" in answer["errors"][0]["reason"]

    expected = {str(a.envelope.event_id) for i, a in enumerate(alerts) if i not in (10, 20, 25)}
    events, letters = AvroCodec(EVENT), AvroCodec(DEAD_LETTER_SCHEMA)
    seen: set[str] = set()
    dead: list[dict[str, Any]] = []
    prefix = settings.topic_prefix
    topics = [INGEST_POLICE.full_name(prefix), DEAD_LETTERS.full_name(prefix)]
    with KafkaConsumer(consumer_config(settings, "check-police-bulk"), topics) as consumer:
        deadline = time.monotonic() + 60
        while (len(seen) < len(expected) or len(dead) < 5) and time.monotonic() < deadline:
            for message in consumer.consume(200, timeout_s=0.5):
                if message.topic() == topics[0]:
                    seen.add(str(events.decode(message.value() or b"")["envelope"]["event_id"]))
                else:
                    dead.append(letters.decode(message.value() or b""))
    assert seen == expected
    bulk = [d for d in dead if str(d["source_topic"]).endswith("/bulk")]
    assert sorted(d["source_offset"] for d in bulk) == [11, 21, 26]
    assert {d["original_value"] for d in bulk} == {lines[i].encode() for i in (10, 20, 25)}
    assert len(dead) == 5  # and the deep single body, and the one over 1 MiB
    (too_large,) = [d for d in dead if "over 1 MiB" in d["error_message"]]
    assert str(too_large["source_topic"]).endswith(":alerts")


def test_cis_plus_has_no_bulk_import(endpoint):
    _settings, url = endpoint
    assert post(url, b"{}\n", CUSTOMS_TOKEN, "records/bulk")[0] in (404, 405)
