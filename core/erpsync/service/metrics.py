"""The service's Prometheus metrics, with the official ``prometheus_client``.

Two kinds, as Prometheus's conventions ask (https://prometheus.io/docs/practices/naming/,
https://prometheus.io/docs/practices/instrumentation/):

- counters of what *this process* did: runs by goods owner, flow and outcome; records by
  flow and result; HTTP requests, retries, 429s and failed calls by vendor; and
  the cycle duration as a histogram. They start at zero when the process starts (Prometheus's
  ``rate()`` and ``increase()`` handle the reset);
- gauges of the truth in the state store, read at each scrape: the last success time per goods
  owner and flow, the goods owners that need re-authorisation or are paused, dead letters
  waiting, and the schedule itself. A run made beside the service (``erpsync run --once``)
  shows in these.

Label values come from the config (goods owner ids, flow names) and the plugins (vendor
names), never from data (no order numbers, no messages), so the label sets stay bounded by
the config; a goods owner removed by a reload takes its series with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from erpsync.config import GoodsOwner
from erpsync.errors import StateError
from erpsync.http import vendor_totals
from erpsync.runner import Runner
from erpsync.service.status import snapshot
from erpsync.state import RunRecord

__all__ = ["Metrics"]

_RESULTS: Final = ("read", "written", "unchanged", "skipped", "dead_lettered")
_CYCLE_BUCKETS: Final = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    """The registry ``/metrics`` serves; also the runner's observer (see
    :class:`erpsync.runner.RunObserver`)."""

    def __init__(self, runner: Runner) -> None:
        # No `_created` series beside every counter: they would double the series per goods
        # owner for a start time Prometheus does not need (it sees resets itself).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.runner = runner
        self.registry = CollectorRegistry()
        self.runs = Counter("erpsync_runs", "Flow runs, by goods owner, flow and outcome.",
                            ["goods_owner", "flow", "outcome"], registry=self.registry)
        # By flow, not by goods owner: owners x flows x results was 30,000 series at 1,000
        # goods owners and most of a scrape's cost (docs/benchmarks.md); the status page and
        # erpsync_runs say which goods owner.
        self.records = Counter(
            "erpsync_records", "Records by flow and what became of them (read, written, "
            "unchanged, skipped, dead_lettered).", ["flow", "result"], registry=self.registry)
        self.cycles = Histogram("erpsync_cycle_duration_seconds",
                                "How long one cycle of one goods owner took.",
                                buckets=_CYCLE_BUCKETS, registry=self.registry)
        self.reloads = Counter("erpsync_config_reloads", "Config reloads, by result.",
                               ["result"], registry=self.registry)
        self.reload_ok = Gauge("erpsync_config_last_reload_successful",
                               "1 if the last config (re)load was taken, 0 if refused.",
                               registry=self.registry)
        self.reload_ok.set(1)
        self._labelled: dict[str, set[tuple[Counter, tuple[str, ...]]]] = {}
        self._ids: tuple[object, set[str]] = (None, set())
        self.registry.register(_VendorCollector())
        self.registry.register(_StateCollector(runner))

    # --- RunObserver -----------------------------------------------------------------------

    def run_finished(self, owner: GoodsOwner, run: RunRecord) -> None:
        if owner.id not in self._configured():
            return  # it left the config (a reload) while its last cycle finished
        self._labels(self.runs, owner.id, run.flow, run.outcome).inc()
        for result in _RESULTS:
            self.records.labels(run.flow, result).inc(getattr(run, result))

    def cycle_finished(self, owner: GoodsOwner, seconds: float) -> None:
        self.cycles.observe(seconds)

    def _configured(self) -> set[str]:
        """The goods owner ids of the config served now (remembered per config)."""
        config = self.runner.config
        if self._ids[0] is not config:
            self._ids = (config, {o.id for o in config.goods_owners})
        return self._ids[1]

    def _labels(self, metric: Counter, owner_id: str, *values: str) -> Counter:
        """``metric``'s child for the goods owner, remembered so :meth:`forget` finds it."""
        self._labelled.setdefault(owner_id, set()).add((metric, (owner_id, *values)))
        return metric.labels(owner_id, *values)

    def forget(self, owner_id: str) -> None:
        """Drop a goods owner's series (it left the config)."""
        for metric, values in self._labelled.pop(owner_id, set()):
            metric.remove(*values)


class _VendorCollector(Collector):
    """The HTTP client's counts by vendor (:func:`erpsync.http.vendor_totals`)."""

    def collect(self) -> Iterator[Metric]:
        totals = vendor_totals()
        for name, field, text in (
            ("erpsync_http_requests", "requests", "HTTP attempts that reached a vendor."),
            ("erpsync_http_retries", "retries", "HTTP attempts followed by another one."),
            ("erpsync_http_throttled", "throttled", "HTTP 429 answers (rate limited)."),
            ("erpsync_http_errors", "errors", "Calls that ended without a usable answer."),
        ):
            family = CounterMetricFamily(name, text, labels=["vendor"])
            for vendor, stats in sorted(totals.items()):
                family.add_metric([vendor], getattr(stats, field))
            yield family


class _StateCollector(Collector):
    """Gauges read from the state store and the schedule at each scrape."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Metric]:
        halted = GaugeMetricFamily(
            "erpsync_scheduler_halted", "1 while no cycle starts because the state store "
            "failed.", value=float(self.runner.halted is not None))
        try:
            now = snapshot(self.runner)
        except StateError:  # the rest would be guesses: say what is known
            yield halted
            return
        success = GaugeMetricFamily(
            "erpsync_last_success_timestamp_seconds",
            "When a flow of a goods owner last ended ok or partial (Unix time).",
            labels=["goods_owner", "flow"])
        reauth = GaugeMetricFamily(
            "erpsync_needs_reauthorisation",
            "1 while a goods owner's credentials were refused and a person must act.",
            labels=["goods_owner"])
        paused = GaugeMetricFamily("erpsync_paused", "1 while a goods owner is paused.",
                                   labels=["goods_owner"])
        letters = GaugeMetricFamily("erpsync_dead_letters",
                                    "Records a vendor refused, waiting for `erpsync retry`.",
                                    labels=["goods_owner"])
        for view in now.owners:
            for flow, summary in view.flows.items():
                if summary.last_success is not None:
                    success.add_metric([view.owner.id, flow], summary.last_success.timestamp())
            reauth.add_metric([view.owner.id], float(view.status is not None))
            paused.add_metric([view.owner.id], float(view.pause is not None))
            letters.add_metric([view.owner.id], view.dead_letters)
        owners = GaugeMetricFamily("erpsync_goods_owners", "Goods owners by state.",
                                   labels=["state"])
        for kind, count in now.counts.items():
            owners.add_metric([kind], count)
        yield from (success, reauth, paused, letters, owners, halted)
