"""Prometheus metrics (prometheus-client), named the Prometheus way: ``kvfs_`` prefix, ``_total``, ``_seconds``.

Vault requests are observed as they happen (a counter by kind, operation and outcome, and a latency
histogram, after the provider's ``keyvault_request``). Everything else is read from the counters the
engine and the sinks keep anyway, at scrape time: the FUSE hot path pays nothing for metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__

if TYPE_CHECKING:
    from ..engine.lazy import LazyContent
    from ..engine.rotation import Rotator
    from ..sinks.fuse.operations import KvfsOperations
    from ..sinks.hooks import ChangeHooks
    from ..sinks.kubernetes.sync import SecretSync
    from ..vault.tokens import TokenStats

#: Seconds; Key Vault answers in tens of milliseconds, a throttled or failing one in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Sources:
    """What the collector reads at scrape time; each is set once the daemon has made it."""

    rotator: Callable[[], Rotator | None] = lambda: None
    objects_served: Callable[[], int] = lambda: 0
    files_served: Callable[[], int] = lambda: 0
    operations: KvfsOperations | None = None
    hooks: ChangeHooks | None = None
    secrets: SecretSync | None = None
    lazy: LazyContent | None = None
    tokens: TokenStats | None = None
    ready: Callable[[], bool] = lambda: False
    started: float = field(default_factory=time.time)


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: they double every counter for little use
        self.registry = CollectorRegistry()
        self.sources = Sources()
        self.vault_requests = Counter(
            "kvfs_vault_requests",
            "Key Vault operations by object kind, operation and outcome",
            ["kind", "operation", "outcome"],
            registry=self.registry,
        )
        self.vault_latency = Histogram(
            "kvfs_vault_request_duration_seconds",
            "Duration of Key Vault operations (SDK retries included)",
            ["kind", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(self.sources))

    def observe_vault(self, kind: str, operation: str, outcome: str, seconds: float) -> None:
        """The backend's observer: called from worker threads (prometheus-client is thread-safe)."""
        self.vault_requests.labels(kind, operation, outcome).inc()
        self.vault_latency.labels(kind, operation).observe(seconds)


class _StateCollector(Collector):
    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        s = self.sources
        info = GaugeMetricFamily("kvfs_build_info", "kvfs version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily("kvfs_ready", "1 once every required object is served", value=int(s.ready()))
        yield GaugeMetricFamily("kvfs_start_time_seconds", "Unix time the daemon started", value=s.started)
        yield GaugeMetricFamily("kvfs_objects_served", "Configured objects with content", value=s.objects_served())
        yield GaugeMetricFamily(
            "kvfs_files_served", "Files served (history and split files included)", value=s.files_served()
        )
        yield from self._rotation()
        if s.operations is not None:
            fuse = CounterMetricFamily("kvfs_fuse_requests", "FUSE requests by operation", labels=["operation"])
            for operation, count in sorted(s.operations.requests.items()):
                fuse.add_metric([operation], count)
            yield fuse
            yield GaugeMetricFamily(
                "kvfs_fuse_inodes_referenced",
                "Inodes the kernel holds lookups on",
                value=s.operations.inodes_referenced,
            )
            yield GaugeMetricFamily(
                "kvfs_fuse_inodes_retired",
                "Replaced inodes kept answerable until the kernel forgets them",
                value=s.operations.inodes_retired,
            )
            yield GaugeMetricFamily(
                "kvfs_fuse_open_handles", "Open file and directory handles", value=s.operations.handles_open
            )
            yield from self._opens(s.operations)
        if s.hooks is not None:
            hooks = CounterMetricFamily(
                "kvfs_hook_runs", "Change hook runs by hook and outcome", labels=["hook", "outcome"]
            )
            for (hook, outcome), count in sorted(s.hooks.outcomes.items()):
                hooks.add_metric([hook, outcome], count)
            yield hooks
        if s.secrets is not None:
            yield from self._secrets(s.secrets)
        if s.lazy is not None:
            yield from self._lazy(s.lazy)
        if s.tokens is not None:
            yield from self._tokens(s.tokens)

    @staticmethod
    def _opens(operations: KvfsOperations) -> Iterator[Metric]:
        opens = CounterMetricFamily(
            "kvfs_file_opens", "Opens of files by alias and outcome (ok, denied, failed)", labels=["alias", "outcome"]
        )
        for (alias, outcome), count in sorted(operations.opens.items()):
            opens.add_metric([alias, outcome], count)
        yield opens
        denied = sum(count for (_, outcome), count in operations.opens.items() if outcome == "denied")
        yield CounterMetricFamily(
            "kvfs_file_opens_denied", "Opens refused by allowedUids/allowedGids (EACCES)", value=denied
        )
        if operations.audit is not None:
            stats = operations.audit.stats
            yield CounterMetricFamily("kvfs_audit_events", "Audit lines written for opens", value=stats.events)
            yield CounterMetricFamily(
                "kvfs_audit_opens_coalesced", "Opens counted into an earlier audit line", value=stats.opens_coalesced
            )
            yield CounterMetricFamily(
                "kvfs_audit_opens_dropped",
                "Opens in no audit line: the queue was full or the audit log could not be written",
                value=stats.dropped,
            )
            yield GaugeMetricFamily(
                "kvfs_audit_events_pending", "Audit lines waiting to be written", value=operations.audit.pending
            )

    @staticmethod
    def _lazy(content: LazyContent) -> Iterator[Metric]:
        stats = content.stats
        opens = CounterMetricFamily(
            "kvfs_lazy_opens",
            "Opens of files fetched on open (patterns, --vault) by how they were answered",
            labels=["answer"],
        )
        opens.add_metric(["cached"], stats.hits)
        opens.add_metric(["fetched"], stats.fetches - stats.fetch_failures)
        opens.add_metric(["waited_for_fetch"], stats.waits)
        opens.add_metric(["stale_after_error"], stats.stale_served)
        yield opens
        yield CounterMetricFamily("kvfs_lazy_fetches", "Vault fetches made for opens", value=stats.fetches)
        yield CounterMetricFamily(
            "kvfs_lazy_fetch_failures",
            "Fetches on open that failed (EIO, or an expired copy served)",
            value=stats.fetch_failures,
        )
        yield CounterMetricFamily("kvfs_cache_expired", "Cached copies that reached --cache-ttl", value=stats.expired)
        yield CounterMetricFamily(
            "kvfs_cache_evictions", "Cached copies dropped to stay within --cache-size", value=stats.evicted
        )
        yield GaugeMetricFamily("kvfs_cache_entries", "Objects whose fresh copy is cached", value=content.entries)
        yield GaugeMetricFamily(
            "kvfs_cache_bytes", "Bytes held by the cache (fresh and expired copies)", value=content.bytes_held
        )

    @staticmethod
    def _tokens(tokens: TokenStats) -> Iterator[Metric]:
        yield CounterMetricFamily("kvfs_token_refreshes", "Vault tokens fetched", value=tokens.refreshes)
        yield CounterMetricFamily(
            "kvfs_token_refresh_failures",
            "Token requests that failed (a failure before expiry keeps the current token)",
            value=tokens.refresh_failures,
        )
        left = tokens.seconds_left()
        if left is not None:
            yield GaugeMetricFamily(
                "kvfs_token_expiry_seconds", "Seconds until the vault token in use expires", value=left
            )

    def _rotation(self) -> Iterator[Metric]:
        rotator = self.sources.rotator()
        if rotator is None:
            return
        stats = rotator.stats
        for name, help_text, value in (
            ("kvfs_polls", "Polls of the vault", stats.polls),
            ("kvfs_polls_failed", "Polls in which some vault request failed", stats.failed_polls),
            ("kvfs_poll_list_calls", "List calls made by polls (one per 25 objects of a kind)", stats.list_calls),
            ("kvfs_poll_get_calls", "GET calls made by polls (only for changed objects)", stats.get_calls),
            ("kvfs_changes_applied", "New object versions applied", stats.changes_applied),
            ("kvfs_swaps", "Change sets published (each one swap of the served files)", stats.swaps),
        ):
            yield CounterMetricFamily(name, help_text, value=value)
        age = stats.seconds_since_success()
        if age is not None:
            yield GaugeMetricFamily(
                "kvfs_last_successful_poll_age_seconds",
                "Seconds since a poll (or the initial load) last reached the vault for every object",
                value=age,
            )

    @staticmethod
    def _secrets(secrets: SecretSync) -> Iterator[Metric]:
        writes = CounterMetricFamily("kvfs_secret_writes", "Kubernetes Secret writes by outcome", labels=["outcome"])
        writes.add_metric(["ok"], secrets.stats.written)
        for kind, count in sorted(secrets.stats.failures.items()):
            writes.add_metric([f"failed_{kind}"], count)
        yield writes
        calls = CounterMetricFamily("kvfs_kubernetes_api_calls", "Kubernetes API calls by verb", labels=["verb"])
        for verb, count in sorted(secrets.writer.calls.items()):
            calls.add_metric([verb], count)
        yield calls
        yield GaugeMetricFamily(
            "kvfs_secrets_unwritten",
            "Secrets whose content differs from what the files say (not yet written)",
            value=len(secrets.secret_objects) - secrets.written_count,
        )
