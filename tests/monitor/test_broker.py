"""The live broker: events numbered once, replayed after a reconnection, and a client
that falls behind is reset instead of holding unbounded memory."""

from __future__ import annotations

import asyncio
import threading

from vigil.monitor.broker import LiveBroker


def test_subscribers_get_their_topics_in_order_from_any_thread() -> None:
    async def scenario() -> list[tuple[str, int]]:
        broker = LiveBroker()
        with broker.subscribe({"monitor:ql"}) as subscription:

            def publish() -> None:
                for i in range(5):
                    broker.publish(
                        [
                            ("step", ("monitor:ql", "monitor"), {"i": i}),
                            ("log", ("log:1",), {"i": i}),
                        ]
                    )

            thread = threading.Thread(target=publish)
            thread.start()
            thread.join()
            received = []
            while (event := await subscription.get(timeout=0.5)) is not None:
                received.append((event.event, event.data["i"]))
            return received

    assert asyncio.run(scenario()) == [("step", i) for i in range(5)]


def test_a_reconnecting_client_gets_what_it_missed() -> None:
    async def scenario() -> tuple[list[int], str]:
        broker = LiveBroker(history=10)
        first = broker.publish([("unit", ("monitor",), {"n": n}) for n in range(6)])
        with broker.subscribe({"monitor"}, since=first[2].id) as subscription:
            replayed = []
            while (event := await subscription.get(timeout=0.2)) is not None:
                replayed.append(event.data["n"])
        broker.publish([("unit", ("monitor",), {"n": n}) for n in range(6, 30)])
        with broker.subscribe({"monitor"}, since=first[0].id) as too_old:
            event = await too_old.get(timeout=0.2)
            assert event is not None
            return replayed, event.event

    replayed, kind = asyncio.run(scenario())
    assert replayed == [3, 4, 5]
    assert kind == "reset"  # its events are no longer kept: reload the state


def test_a_flood_resets_a_slow_client_and_memory_stays_bounded() -> None:
    async def scenario() -> tuple[str, int, int]:
        broker = LiveBroker(history=100, queue_size=50)
        with broker.subscribe({"log:7"}) as subscription:
            for n in range(1000):
                broker.publish([("log", ("log:7", "log:7:b0"), {"n": n})])
            await asyncio.sleep(0.05)
            first = await subscription.get(timeout=0.5)
            assert first is not None
            return first.event, subscription.queue.qsize(), len(broker._history)

    kind, queued, kept = asyncio.run(scenario())
    assert kind == "reset" and queued <= 50 and kept == 100


def test_bulky_events_are_wanted_only_while_someone_listens() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        broker = LiveBroker(linger=60)
        before = broker.wants(("log:1", "log:1:b0"))
        with broker.subscribe({"log:1:b0"}):
            during = broker.wants(("log:1", "log:1:b0"))
        return before, during, broker.wants(("log:1:b0",))

    assert asyncio.run(scenario()) == (False, True, True)
