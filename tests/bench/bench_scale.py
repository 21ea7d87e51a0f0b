"""A fleet against one vault's transaction budget: steady polling, and a thundering herd at start.

Every simulated pod is the real thing without FUSE: kvfs's rotation engine (or, for comparison, a
provider-style poller that GETs every object every poll) and kvfs's backend, the real Azure SDK over real
HTTPS to the fake vault, which throttles as Key Vault does (429 with Retry-After once the budget of a
window is spent).

Scaling, stated honestly. A fleet of P pods is simulated by P/s pods against a budget divided by s (each
pod's share of the budget is the same), with time compressed by c: the poll interval and the budget's
window are both divided by c, so the fraction of the budget a fleet uses is unchanged. Fewer, busier
windows make the simulation a little pessimistic (counts per window vary more than in a real fleet).
Steady-state pods start at random phases (a fleet that has been running for a while); the herd starts at
once. Figures are converted back to the real fleet: calls per second = simulated calls per second * s / c.

Run: make bench   (or: .venv/bin/python -m tests.bench scale)
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

import trio
from azure.identity import WorkloadIdentityCredential

from kvfs.config import ObjectSpec
from kvfs.content.files import ChangeSet
from kvfs.engine.loader import load_all
from kvfs.engine.rotation import Rotator, served_from
from kvfs.errors import KvfsError
from kvfs.fakevault import FakeVault
from kvfs.vault.backend import BackendSettings, VaultBackend
from tests.bench.common import print_table

BUDGET, WINDOW = 4000, 10.0  # Key Vault: 4,000 GET/list transactions per vault per 10 s
INTERVAL = 120.0  # the provider's default rotation poll interval
OBJECTS = 50  # per pod
COMPRESSION = 10.0  # c: 120 s polls become 12 s, 10 s windows become 1 s
MEASURE_INTERVALS = 3  # measured after one interval of warm-up
SUSTAINED_THROTTLING = 0.01  # a fleet is sustained with no failed poll and under 1% of its calls throttled


def specs(count: int) -> list[ObjectSpec]:
    return [ObjectSpec(i, f"s-{i:03d}", "secret", f"s-{i:03d}") for i in range(count)]


def backend(vault: FakeVault) -> VaultBackend:
    credential = WorkloadIdentityCredential(
        tenant_id=vault.tenant_id,
        client_id=vault.client_id,
        token_file_path=str(vault.token_file),
        authority=vault.authority_host,
        connection_verify=str(vault.ca_file),
    )
    settings = BackendSettings(vault_url=vault.vault_url, emulator=True, ca_file=str(vault.ca_file), concurrency=4)
    return VaultBackend(settings, credential, kinds={"secret"})


async def _ignore(change: ChangeSet) -> None:
    return None


@dataclass
class Row:
    style: str
    fleet: int
    simulated: int
    offered_per_s: float  # calls per second in real-fleet terms, throttled ones included
    throttled_share: float
    errors: int = 0

    @property
    def sustained(self) -> bool:
        """No poll failed, and the SDK's retries absorbed the few 429s there were (under 1% of calls)."""
        return self.errors == 0 and self.throttled_share < SUSTAINED_THROTTLING


@dataclass
class ProviderStylePod:
    """What the provider does every poll: GET every object, one after another, with the SDK's retries."""

    backend: VaultBackend
    objects: list[ObjectSpec]
    interval: float
    errors: int = 0

    async def run(self) -> None:
        while True:
            await trio.sleep(self.interval)
            for spec in self.objects:
                try:
                    await self.backend.fetch(spec)
                except KvfsError:
                    self.errors += 1


async def steady(style: str, fleet: int, simulated: int) -> Row:
    scale = fleet / simulated
    interval, window = INTERVAL / COMPRESSION, WINDOW / COMPRESSION
    with FakeVault() as vault:
        vault.set_clock(lambda: time.time() - 3600)  # objects last changed an hour ago, as in a running fleet
        for spec in specs(OBJECTS):
            vault.set_secret(spec.name, f"value of {spec.name}")
        first = backend(vault)
        loaded = await load_all(first, specs(OBJECTS))  # one real load; every pod starts from a copy of it
        pods: list[Rotator | ProviderStylePod] = []
        backends = [backend(vault) for _ in range(simulated)]
        for pod_backend in backends:
            if style == "kvfs":
                pods.append(Rotator(pod_backend, served_from(loaded), _ignore, interval=interval))
            else:
                pods.append(ProviderStylePod(pod_backend, specs(OBJECTS), interval))
        vault.set_throttle(max(1, round(BUDGET / scale)), window)
        async with trio.open_nursery() as nursery:
            for pod in pods:
                nursery.start_soon(_start_at_random_phase, pod, interval)
            await trio.sleep(interval)  # warm-up: every pod has polled once
            before = vault.throttle_stats()
            await trio.sleep(interval * MEASURE_INTERVALS)
            after = vault.throttle_stats()
            nursery.cancel_scope.cancel()
        for b in [first, *backends]:
            b.close()
    admitted = after["admitted"] - before["admitted"]
    throttled = after["throttled"] - before["throttled"]
    seconds = interval * MEASURE_INTERVALS
    offered = (admitted + throttled) / seconds * scale / COMPRESSION
    errors = sum(p.errors for p in pods if isinstance(p, ProviderStylePod))
    errors += sum(p.stats.failed_polls for p in pods if isinstance(p, Rotator))
    return Row(style, fleet, simulated, offered, throttled / max(1, admitted + throttled), errors)


async def _start_at_random_phase(pod: Rotator | ProviderStylePod, interval: float) -> None:
    await trio.sleep(random.uniform(0, interval))
    await pod.run()


@dataclass
class Herd:
    pods: int
    ready: list[float] = field(default_factory=list)
    failed: int = 0
    throttled: int = 0
    admitted: int = 0


async def herd(pods: int, objects: int, budget: int, start_timeout: float) -> Herd:
    """``pods`` start at the same instant against ``budget`` per 10 s; each loads ``objects`` objects."""
    result = Herd(pods)
    with FakeVault() as vault:
        for spec in specs(objects):
            vault.set_secret(spec.name, f"value of {spec.name}")
        backends = [backend(vault) for _ in range(pods)]
        vault.set_throttle(budget, WINDOW)
        started = time.monotonic()

        async def start(pod_backend: VaultBackend) -> None:
            loaded = await load_all(pod_backend, specs(objects), start_timeout=start_timeout)
            if loaded.failures:
                result.failed += 1
            else:
                result.ready.append(time.monotonic() - started)

        async with trio.open_nursery() as nursery:
            for pod_backend in backends:
                nursery.start_soon(start, pod_backend)
        stats = vault.throttle_stats()
        result.throttled, result.admitted = stats["throttled"], stats["admitted"]
        for b in backends:
            b.close()
    return result


def run() -> None:
    rows = []
    for style, simulated, fleets in (
        ("kvfs", 500, (10_000, 15_000, 20_000, 25_000)),
        ("provider-style", 50, (500, 1_000, 2_000, 10_000)),
    ):
        for fleet in fleets:
            rows.append(trio.run(steady, style, fleet, simulated))
    print_table(
        f"Fleet polling one vault ({BUDGET:,} calls per {WINDOW:g} s), {OBJECTS} objects per pod, "
        f"{INTERVAL:g} s interval (simulated: pods / s, budget / s, time / {COMPRESSION:g})",
        ["poller", "pods", "simulated pods", "calls/s", "budget used", "429s", "errors", "sustained"],
        [[r.style, f"{r.fleet:,}", r.simulated, f"{r.offered_per_s:,.0f}",
          f"{r.offered_per_s / (BUDGET / WINDOW):.0%}", f"{r.throttled_share:.2%}", r.errors,
          "yes" if r.sustained else "no"] for r in rows],
    )  # fmt: skip
    for style, calls_per_poll in (("kvfs", math.ceil(OBJECTS / 25)), ("provider-style", OBJECTS)):
        largest = max((r.fleet for r in rows if r.style == style and r.sustained), default=0)
        bound = BUDGET / WINDOW * INTERVAL / calls_per_poll
        print(
            f"{style}: {calls_per_poll} calls per pod per poll; largest fleet sustained (no failed poll, under "
            f"{SUSTAINED_THROTTLING:.0%} of calls throttled) {largest:,} pods; the budget's bound: {bound:,.0f} pods"
        )

    herd_rows = []
    for label, timeout in (("kvfs, --start-timeout 10m", 600.0), ("SDK retries only (--start-timeout 0)", 0.0)):
        outcome = trio.run(herd, 500, 5, BUDGET // 10, timeout)
        all_ready = f"{max(outcome.ready):.1f}" if outcome.ready and not outcome.failed else "never"
        median = sorted(outcome.ready)[len(outcome.ready) // 2] if outcome.ready else float("nan")
        herd_rows.append([label, outcome.pods, len(outcome.ready), outcome.failed, f"{median:.1f}", all_ready,
                          outcome.admitted, outcome.throttled])  # fmt: skip
    print_table(
        "Thundering herd: 500 pods start at once, 5 objects each, against 400 calls per 10 s "
        "(the work and budget of 500 pods x 50 objects against 4,000 per 10 s, divided by 10)",
        ["start-up", "pods", "ready", "failed", "median s to ready", "s to all ready", "calls admitted", "429s"],
        herd_rows,
    )


if __name__ == "__main__":
    run()
