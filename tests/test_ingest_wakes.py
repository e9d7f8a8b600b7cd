"""The engine wake-ups that ingest workers' replies ask for (alertd.ingest_pool.Wakes): a burst
wakes each loop once, later asks within the loop's gap wait for it, the first after a quiet spell
is at once."""

from __future__ import annotations

import trio
import trio.testing

from alertd.ingest_pool import Wakes


class WakeLog:
    def __init__(self) -> None:
        self.woken: list[tuple[float, str]] = []

    def wake(self, loop: str) -> None:
        self.woken.append((round(trio.current_time(), 3), loop))


def test_a_burst_of_replies_wakes_each_loop_once_and_later_asks_wait_for_its_gap() -> None:
    log = WakeLog()

    async def main() -> None:
        wakes = Wakes(log, {"escalation": 0.05, "events": 0.25})  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wakes.run)
            await trio.sleep(1)
            for _ in range(100):  # the replies of one commit, read together
                wakes.ask("events")
                wakes.ask("escalation")
            await trio.sleep(0.01)
            assert sorted(log.woken) == [(1.0, "escalation"), (1.0, "events")]
            for _ in range(10):  # more replies soon after: one wake-up each, when its gap is over
                wakes.ask("events")
                wakes.ask("escalation")
                await trio.sleep(0.001)
            await trio.sleep(0.3)
            assert log.woken[2:] == [(1.05, "escalation"), (1.25, "events")]
            await trio.sleep(1)
            asked = round(trio.current_time(), 3)
            wakes.ask("escalation")  # after a quiet spell: at once (a page does not wait)
            await trio.sleep(0.001)
            assert log.woken[4:] == [(asked, "escalation")]
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
