"""Read a queue depth from a Prometheus text exposition (an exporter's /metrics page).

The source names a metric and label matchers; every sample with that name whose labels
include all the matchers is summed (`prometheus_client.parser.text_string_to_metric_families`
does the parsing). A histogram or summary given by its base name counts its `_count` samples;
naming `..._count` (or `_sum`, `_bucket`) picks that sample exactly. No matching sample is an
error ('no series postfix_showq_message_size_bytes_count{queue="deferred"} in the exposition'),
never a depth of 0.

Which metric gives the depth per queue, for the common Postfix exporters:

- kumina/postfix_exporter, continued as hsn723/postfix_exporter: `postfix_showq_message_size_bytes`
  is a histogram with a label `queue` (active, deferred, hold, incoming, maildrop); its
  `_count` series is the number of messages in that queue. Configure
      metric = "postfix_showq_message_size_bytes_count"
      labels = { queue = "deferred" }
  (no `queue` matcher: the sum over all queues). `postfix_showq_message_age_seconds` is the
  same per-queue histogram of ages: only bucket bounds, so no exact oldest age is read from it.
- Pitfalls: when the exporter cannot reach showq, `postfix_up` is 0 and the showq series are
  simply absent: that is unknown (an error here), never 0. Use a histogram's `_count`, not its
  `_sum` (the sum is bytes or seconds). The numbers are as old as the exporter's own scrape of
  showq, not the moment this page was fetched. Label values are the Postfix queue names above.

`series_values` is the reading underneath, for other areas (a replication lag, a role flag):
the value of every matching sample, as the exposition gives it (NaN included: the caller
decides what a NaN means for it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from cockpit.queue.postqueue import QueueParseError, shown
from cockpit.queue.sample import QUEUE_NAMES, QueueSample
from cockpit.safe_text import clean

__all__ = ["parse_prometheus", "series_text", "series_values"]

_COUNTED_KINDS = frozenset({"histogram", "summary", "gaugehistogram"})


def series_text(metric: str, labels: Mapping[str, str]) -> str:
    """`name{a="b",c="d"}` as PromQL writes a selector (without braces when no labels)."""
    if not labels:
        return clean(metric)
    inner = ",".join(f'{clean(k)}="{clean(v)}"' for k, v in sorted(labels.items()))
    return f"{clean(metric)}{{{inner}}}"


def _matching(
    text: str, *, metric: str, labels: Mapping[str, str]
) -> tuple[list[float], list[float]]:
    """(values of the samples matching `metric{labels}`, values of `postfix_up`)."""
    # Imported here so that loading cockpit.queue does not load prometheus_client.
    from prometheus_client.parser import text_string_to_metric_families

    wanted = dict(labels)
    values: list[float] = []
    postfix_up: list[float] = []
    try:
        for family in text_string_to_metric_families(text):
            name = metric
            if family.name == metric and family.type in _COUNTED_KINDS:
                name = metric + "_count"
            for sample in family.samples:
                if sample.name == "postfix_up":
                    postfix_up.append(sample.value)
                if sample.name != name:
                    continue
                if any(sample.labels.get(key) != value for key, value in wanted.items()):
                    continue
                values.append(sample.value)
    except (ValueError, TypeError, IndexError, KeyError) as error:
        raise QueueParseError(
            f"not a Prometheus text exposition: {shown(str(error), 120)}"
        ) from None
    return values, postfix_up


def series_values(text: str, *, metric: str, labels: Mapping[str, str]) -> list[float]:
    """The value of every sample `metric{labels}` names in a Prometheus text exposition, in
    the order they appear (a histogram or summary named by its base name: its `_count`).

    Raises `QueueParseError`: not an exposition, or no matching series (never an empty list).
    """
    values, _ = _matching(text, metric=metric, labels=labels)
    if not values:
        raise QueueParseError(f"no series {series_text(metric, labels)} in the exposition")
    return values


def parse_prometheus(
    text: str,
    *,
    metric: str,
    labels: Mapping[str, str],
    now: datetime,
    source: str,
) -> QueueSample:
    """The depth `metric{labels}` gives in a Prometheus text exposition.

    Raises `QueueParseError`: not an exposition, no matching series, a value that is not a
    finite number of 0 or more.
    """
    wanted = dict(labels)
    values, postfix_up = _matching(text, metric=metric, labels=wanted)
    if not values:
        message = f"no series {series_text(metric, wanted)} in the exposition"
        if postfix_up and not any(postfix_up):
            message += " (postfix_up is 0: the exporter cannot read the queue)"
        raise QueueParseError(message)
    total = sum(values)
    if math.isnan(total) or math.isinf(total) or total < 0:
        raise QueueParseError(
            f"{series_text(metric, wanted)} is {total:g}: expected a depth of 0 or more"
        )
    depth = round(total)
    queue = wanted.get("queue")
    by_queue = {queue: depth} if queue in QUEUE_NAMES else {}
    return QueueSample(source=source, at=now, total=depth, by_queue=MappingProxyType(by_queue))
