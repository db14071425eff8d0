"""The fault-injection suite's bookkeeping: the schedule, blaming copies on faults, the
verdict."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from liaison.processes import Process
from stack.chaos import (
    KINDS,
    ChaosOptions,
    ChaosReport,
    Fault,
    _blame_copies,
    _bound_faults,
    _Fates,
    _schedule,
    _Signals,
    _Supervisor,
)
from stack.commands import CHAOS_KINDS
from stack.demo import Stack


def test_the_command_offers_every_fault_kind():
    assert CHAOS_KINDS == KINDS


@given(st.integers(1, 80), st.integers(0, 2**32), st.sets(st.sampled_from(KINDS), min_size=1))
def test_every_kind_comes_as_often_as_the_others_within_one(faults, seed, kinds):
    options = ChaosOptions(faults=faults, seed=seed, kinds=tuple(sorted(kinds)))
    drawn = _schedule(options, random.Random(seed))  # noqa: S311 - a test's seed
    assert len(drawn) == faults
    counts = Counter(drawn)
    assert set(counts) <= kinds
    assert max(counts.values()) - min(counts.get(k, 0) for k in kinds) <= 1
    assert _schedule(options, random.Random(seed)) == drawn  # noqa: S311 - same seed, same run


def test_a_copy_is_put_down_to_the_last_fault_before_it():
    report = ChaosReport(
        seed=1, faults=[Fault("worker-kill", "", at=100.0), Fault("scale", "", at=200.0)]
    )
    fates = _Fates()
    origin = ("liaison.ingest.cen", 0, 7)
    fates.copies[("e1", "liaison.partner.a")] = [(150.0, origin), (90.0, origin)]  # first at 90
    fates.copies[("e2", "liaison.partner.a")] = [(210.0, origin), (250.0, origin), (260.0, origin)]
    fates.copies[("e3", "liaison.partner.a")] = [(120.0, origin)]  # one copy: no duplicate
    _blame_copies(fates, report)
    kill, scale = report.faults
    assert (kill.extra_copies, kill.duplicated_inputs) == (1, 1)
    assert (scale.extra_copies, scale.duplicated_inputs) == (2, 1)
    assert report.extra_copies == 3


def test_a_run_is_good_only_when_nothing_is_lost_unread_over_its_bound_or_reidentified():
    assert ChaosReport(seed=1).ok()
    assert not ChaosReport(seed=1, lost=1).ok()
    assert not ChaosReport(seed=1, unread_partitions=["liaison.ingest.cen[3]"]).ok()
    assert not ChaosReport(seed=1, copies_change_ids=1).ok()
    over = Fault("worker-kill", "", at=1.0, uncommitted=3, duplicated_inputs=4)
    assert not ChaosReport(seed=1, faults=[over]).ok()
    within = Fault("worker-kill", "", at=1.0, uncommitted=4, duplicated_inputs=4)
    assert ChaosReport(seed=1, faults=[within]).ok()
    stopped = ChaosReport(seed=1, interrupted=True)  # lost or not: the run did not finish
    assert not stopped.ok()
    assert stopped.lines()[0].startswith("Interrupted")


def test_only_a_signal_marks_a_run_interrupted():
    stop = threading.Event()
    signals = _Signals(stop)
    try:
        stop.set()  # the run's own end
        assert not signals.interrupted.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.interrupted.wait(5)
    finally:
        signals.close()
    assert signal.getsignal(signal.SIGTERM) != signals._on  # put back as it was


def _ended_on_its_own(stack: Stack, name: str) -> None:
    deadline = time.monotonic() + 60
    while stack.processes[name].poll() is None:
        assert time.monotonic() < deadline, f"{name} did not end"
        time.sleep(0.1)


def test_a_process_that_ends_on_its_own_is_started_again_and_reported(tmp_path):
    # A liaison command that fails at once stands in for a worker its watchdog stopped.
    failing = Process(
        name="failing",
        part="pipeline",
        summary="",
        command=("no-such-command",),
        principal="",
        job="",
    )
    stack = Stack(tmp_path)
    said: list[str] = []
    supervisor = _Supervisor(
        stack,
        lambda name: (failing, dict(os.environ)),
        started=0.0,
        out=said.append,
        pause_s=5.0,
    )
    try:
        first = stack.start(failing, dict(os.environ))
        _ended_on_its_own(stack, "failing")
        supervisor.check(100.0)  # seen ended: the pause starts
        assert stack.processes["failing"] is first
        assert supervisor.restarts == []
        supervisor.check(105.0)
        assert stack.processes["failing"] is not first
        assert [(r.process, r.exit_code) for r in supervisor.restarts] == [("failing", 2)]
        assert said == ["failing ended on its own (exit code 2); started again"]
        # One a fault stops is out of the stack first: never started again behind its back.
        _ended_on_its_own(stack, "failing")
        with supervisor.lock:
            stack.processes.pop("failing")
        supervisor.check(200.0)
        supervisor.check(300.0)
        assert "failing" not in stack.processes
        assert len(supervisor.restarts) == 1
    finally:
        stack.stop_all()


def test_a_faults_bound_is_the_most_left_uncommitted_while_it_was_the_last():
    # A scale event rebalances at its end, 45 s after it began: what is read again then is
    # what was uncommitted then, which the samples taken during the fault show.
    first = Fault("scale", "", at=100.0, uncommitted=105)
    second = Fault("worker-kill", "", at=200.0, uncommitted=19)
    samples = [(90.0, 900), (120.0, 140), (150.0, 180), (210.0, 40), (260.0, 400)]
    _bound_faults([first, second], samples)
    assert (first.in_flight, second.in_flight) == (180, 400)
    first.duplicated_inputs = 121  # over what was uncommitted at its start, within its bound
    second.duplicated_inputs = 401
    assert ChaosReport(seed=1, faults=[first, second]).over_bound == [second]
