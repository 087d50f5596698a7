"""The sink API's edges: checked results, the adapter's defaults, open_sink, and the
delivery state's keys."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge import (
    Batch,
    Halted,
    InProgress,
    Reading,
    SendResult,
    Settled,
    SinkLimits,
    exitcodes,
)
from wattbridge._delivery import SinkWorker
from wattbridge._deliverystate import DeliveryState, Retrying
from wattbridge._errors import PluginError
from wattbridge._outbox import Outbox
from wattbridge._sinks import SinkAdapter
from wattbridge._sources import SourceAdapter
from wattbridge.commands import CommandFailed, open_sink

T0 = datetime(2026, 10, 25, tzinfo=UTC)


def batch_of(n: int) -> Batch:
    readings = [Reading("s", T0 + timedelta(seconds=i), i) for i in range(n)]
    return Batch(readings, list(range(1, n + 1)))


# -- results ---------------------------------------------------------------------


def test_each_constructor_builds_its_kind():
    b = batch_of(2)
    assert isinstance(SendResult.all_ok(b), Settled)
    assert isinstance(SendResult.partial(ok=[0]), Settled)
    assert isinstance(SendResult.in_progress("uploading", T0), InProgress)
    assert isinstance(SendResult.halted("401"), Halted)


@pytest.mark.parametrize(
    "build",
    [
        lambda: SendResult.partial(ok=[0], retry=[0]),
        lambda: SendResult.partial(ok=[1], rejected={1: "bad"}),
        lambda: SendResult.partial(retry=[2], rejected={2: "bad"}),
        lambda: SendResult.partial(ok=[-1]),
        lambda: SendResult.partial(rejected={True: "bad"}),
        lambda: SendResult.halted(""),
    ],
)
def test_a_contradictory_result_is_refused_when_built(build):
    with pytest.raises(ValueError, match="SendResult"):
        build()


@given(
    ok=st.sets(st.integers(0, 20)),
    retry=st.sets(st.integers(0, 20)),
    rejected=st.sets(st.integers(0, 20)),
)
def test_disjoint_positions_are_accepted_and_overlapping_refused(ok, retry, rejected):
    disjoint = not (ok & retry or ok & rejected or retry & rejected)
    build = lambda: SendResult.partial(ok, retry, dict.fromkeys(rejected, "r"))  # noqa: E731
    if disjoint:
        result = build()
        assert (result.ok, result.retry, set(result.rejected)) == (ok, retry, rejected)
    else:
        with pytest.raises(ValueError):
            build()


class Answering:
    """A sink that answers every batch with one fixed result."""

    limits = SinkLimits(max_batch=10)

    def __init__(self, answer):
        self.answer = answer

    def send(self, batch):
        return self.answer


def worker_for(tmp_path, answer):
    outbox = Outbox(tmp_path / "o.sqlite")
    clock = lambda: 1_000.0  # noqa: E731
    return SinkWorker("t", SinkAdapter(Answering(answer)), outbox, clock=clock), outbox


def test_a_position_outside_the_batch_costs_a_retry_not_a_reading(tmp_path):
    worker, outbox = worker_for(tmp_path, SendResult.partial(ok=[0, 5]))
    outbox.put(batch_of(2).readings)
    assert worker.flush() == 0
    assert outbox.depth == 2
    assert "outside a batch of 2" in outbox.status().last_error
    outbox.close()


def test_a_result_that_is_no_send_result_costs_a_retry(tmp_path):
    worker, outbox = worker_for(tmp_path, {"ok": [0]})
    outbox.put(batch_of(1).readings)
    assert worker.flush() == 0
    assert outbox.depth == 1 and "not a SendResult" in outbox.status().last_error
    outbox.close()


# -- adapters --------------------------------------------------------------------


def test_the_adapter_gives_a_minimal_sink_every_optional_method():
    adapter = SinkAdapter(Answering(None))
    adapter.open()
    adapter.close()
    assert not adapter.has_credentials and adapter.credential(batch_of(1).readings[0]) == ""
    assert not adapter.can_check and adapter.check() is False


def test_the_adapter_calls_what_the_sink_defines():
    calls = []

    class Full(Answering):
        def open(self):
            calls.append("open")

        def close(self):
            calls.append("close")

        def credential(self, reading):
            return f"cred-{reading.stream}"

        def check(self):
            calls.append("check")

    adapter = SinkAdapter(Full(None))
    adapter.open()
    assert adapter.check() is True
    assert adapter.credential(batch_of(1).readings[0]) == "cred-s"
    adapter.close()
    assert calls == ["open", "check", "close"]


def test_a_source_with_neither_poll_nor_start_is_a_plugin_error():
    class Nothing:
        pass

    with pytest.raises(PluginError, match="Nothing has neither poll"):
        SourceAdapter(Nothing())


# -- open_sink -------------------------------------------------------------------

CONFIG = """
[wattbridge]
state_dir = "state"

[sources.r]
plugin = "replay"
count = 0

[sinks.out]
plugin = "jsonl"
path = "out.jsonl"

[[routes]]
from = "r"
to = "out"
"""


def test_open_sink_names_the_sinks_a_config_has(wattbridge_config):
    config = wattbridge_config(CONFIG)
    with pytest.raises(CommandFailed, match=r"no sink named 'nope'.*sinks: out") as caught:
        open_sink(config, "nope")
    assert caught.value.code == exitcodes.NOT_FOUND


def test_open_sink_delivers_what_is_put_and_survives_a_reopen(wattbridge_config, tmp_path):
    config = wattbridge_config(CONFIG)
    readings = batch_of(3).readings
    with open_sink(config, "out") as opened:
        opened.put(readings)
        assert opened.depth == 3
    # Queued readings are in the daemon's own outbox: a second opening sees them.
    with open_sink(config, "out") as opened:
        assert [r.value for r in opened.queued()] == [0, 1, 2]
        opened.drain(timeout=10)
        assert opened.settled() == 3 and opened.depth == 0
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3


# -- delivery state ----------------------------------------------------------------


def test_halts_are_lifted_by_exact_prefix_even_with_like_wildcards(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite")
    state = DeliveryState(outbox)
    state.halt("100%_sender", "401: refused", 1.0)
    outbox.set_state("halted_not_a_halt", "kept")
    state.failed("x", Retrying(3, 50.0), "500", 2.0)
    assert outbox.status().halted == "100%_sender: 401: refused"
    assert state.lift_halts() == ["401: refused"]
    assert outbox.get_state("halted_not_a_halt") == "kept"
    assert state.retrying("x") == Retrying(3, 50.0)
    assert outbox.status().next_attempt_at == 50.0
    outbox.close()
