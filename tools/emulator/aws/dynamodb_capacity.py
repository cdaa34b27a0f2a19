"""DynamoDB's write capacity, as the local AWS enforces it: what a write costs, and when DynamoDB throttles it.

moto stores every write at once, so without this no local run shows what a fresh AWS account does to a large
file. The numbers are AWS's own (docs/design.md, "The local AWS throttles writes", cites each page):

* **Cost.** A write consumes one write request unit (WRU) per started 1 KB of the item's size (attribute names
  plus values; numbers one byte per two significant digits plus one; lists and maps 3 bytes plus one per element),
  and every global secondary index whose key attributes the item has consumes the same for its projection.
* **Partitions.** Items are placed on partitions by a hash of their partition key; a partition serves at most
  1,000 WRU/s. A table has as many partitions as its write limit needs at 1,000 WRU/s each (adaptive capacity
  lets one partition use the table's throughput up to that limit, at once).
* **The table's limit.** Provisioned: its WriteCapacityUnits per second, with up to 300 s of unused capacity kept
  as burst capacity. On demand: a new table serves 4,000 WRU/s; it grows to twice the previous peak, where a peak
  counts once it is 30 minutes old, never beyond the per-table account quota (40,000) or the table's
  ``OnDemandThroughput.MaxWriteRequestUnits``.
* **Errors.** A write that cannot be served is throttled: a single-item write fails, a BatchWriteItem returns the
  throttled requests in ``UnprocessedItems``, and one whose every request was throttled fails. The error is
  ``ProvisionedThroughputExceededException`` when a provisioned table's (or index's) capacity ran out and
  ``ThrottlingException`` otherwise (partition, on-demand maximum, account quota), with ``ThrottlingReasons``.

Not modelled: reads, transactions, PartiQL, local secondary indexes, UpdateItem's and DeleteItem's real item
sizes (each costs 1 WRU here), an index key change costing two index writes, partition splits for heat, and
burst capacity being best effort (here it is always there).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WRITE_UNIT_BYTES = 1024  # one WRU per started 1 KB written
PARTITION_WRU_PER_S = 1_000  # the most one partition serves
ON_DEMAND_INITIAL_WRU_PER_S = 4_000  # a new on-demand table
ON_DEMAND_ACCOUNT_QUOTA_WRU_PER_S = 40_000  # per-table account quota (default)
PEAK_SETTLES_S = 30 * 60  # a new peak lifts an on-demand table's limit to twice itself after 30 minutes
BURST_S = 300  # provisioned capacity keeps up to 5 minutes of unused capacity
PROVISIONED_ERROR = "ProvisionedThroughputExceededException"
THROTTLING_ERROR = "ThrottlingException"
WRITE_TARGETS = frozenset({"BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem"})


def attribute_size(value: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value (without its name), in bytes."""
    kind, data = next(iter(value.items()))
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return _number_size(str(data))
    if kind == "B":
        return math.ceil(len(str(data)) * 3 / 4)  # base64 on the wire, raw bytes counted
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in data)
    if kind == "NS":
        return sum(_number_size(v) for v in data)
    if kind == "BS":
        return sum(math.ceil(len(v) * 3 / 4) for v in data)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def _number_size(text: str) -> int:
    digits = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0")
    return math.ceil(len(digits) / 2) + 1


def item_size(item: Mapping[str, Any], names: Iterable[str] | None = None) -> int:
    """An item's size (attribute names + values); only the attributes in ``names`` when given (a projection)."""
    chosen = item if names is None else {n: item[n] for n in names if n in item}
    return sum(len(name.encode()) + attribute_size(value) for name, value in chosen.items())


def write_units(size: int) -> int:
    """WRU for writing ``size`` bytes: one per started 1 KB, at least one."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


@dataclass(frozen=True, slots=True)
class Index:
    """A global secondary index: its key attributes, what it projects, and its own provisioned WCU (if any)."""

    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    non_key: tuple[str, ...] = ()
    write_capacity_units: int | None = None
    max_write_request_units: int | None = None

    def units(self, item: Mapping[str, Any], table_keys: tuple[str, ...]) -> int:
        """WRU this index consumes for ``item`` (0 when the item lacks the index's key: sparse index)."""
        if any(key not in item for key in self.keys):
            return 0
        if self.projection == "ALL":
            return write_units(item_size(item))
        names = {*table_keys, *self.keys, *(self.non_key if self.projection == "INCLUDE" else ())}
        return write_units(item_size(item, names))


@dataclass(frozen=True, slots=True)
class TableShape:
    """What the capacity of one table depends on (read from the table's own description)."""

    name: str
    arn: str
    partition_key: str
    keys: tuple[str, ...]
    billing_mode: str = "PAY_PER_REQUEST"  # or PROVISIONED
    write_capacity_units: int | None = None  # provisioned
    max_write_request_units: int | None = None  # on demand: OnDemandThroughput.MaxWriteRequestUnits
    indexes: tuple[Index, ...] = ()

    @property
    def provisioned(self) -> bool:
        return self.billing_mode == "PROVISIONED"


class TokenBucket:
    """``rate`` units per second, holding at most ``rate * depth_s``; a take may leave it in debt (an item larger
    than the bucket is still written once the bucket is full, as DynamoDB does)."""

    def __init__(self, rate: float, depth_s: float, now: float, *, full: bool = True) -> None:
        self.rate, self.depth_s = rate, depth_s
        self.tokens = rate * depth_s if full else 0.0
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.rate * self.depth_s, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def can_take(self, units: float) -> bool:
        return self.tokens >= min(units, self.rate * self.depth_s)

    def take(self, units: float) -> None:
        self.tokens -= units

    def set_rate(self, rate: float, now: float) -> None:
        self.refill(now)
        self.rate = rate
        self.tokens = min(self.tokens, rate * self.depth_s)


class _PeakTracker:
    """An on-demand table's (or index's) previous peak: the most WRU consumed in one second, counted once the
    second is ``PEAK_SETTLES_S`` old."""

    def __init__(self) -> None:
        self.settled = 0.0
        self._second = -1
        self._used = 0.0
        self._recent: deque[tuple[int, float]] = deque()

    def add(self, units: float, now: float) -> None:
        second = int(now)
        if second != self._second:
            if self._used:
                self._recent.append((self._second, self._used))
            self._second, self._used = second, 0.0
        self._used += units
        while self._recent and self._recent[0][0] <= second - PEAK_SETTLES_S:
            self.settled = max(self.settled, self._recent.popleft()[1])

    def limit(self, cap: int | None) -> float:
        limit = max(ON_DEMAND_INITIAL_WRU_PER_S, 2 * self.settled)
        limit = min(limit, ON_DEMAND_ACCOUNT_QUOTA_WRU_PER_S)
        return min(limit, cap) if cap else limit


@dataclass(slots=True)
class _Limiter:
    """One table's or index's capacity: a bucket for its limit, and (tables) a bucket per partition."""

    provisioned: bool
    capacity_units: int | None
    max_units: int | None
    now: float
    override: float | None = None
    peak: _PeakTracker = field(default_factory=_PeakTracker)
    bucket: TokenBucket | None = None
    partitions: list[TokenBucket] = field(default_factory=list)

    def limit(self) -> float:
        if self.override is not None:
            return self.override
        if self.provisioned:
            return float(self.capacity_units or 1)
        return self.peak.limit(self.max_units)

    def reason(self) -> str:
        if self.override is not None or self.provisioned:
            return "ProvisionedThroughputExceeded" if self.provisioned else "MaxOnDemandThroughputExceeded"
        limit = self.limit()
        if self.max_units and limit >= self.max_units:
            return "MaxOnDemandThroughputExceeded"
        if limit >= ON_DEMAND_ACCOUNT_QUOTA_WRU_PER_S:
            return "AccountLimitExceeded"
        return "KeyRangeThroughputExceeded"  # past twice the previous peak: the table has not split yet

    def refresh(self, now: float, *, partitioned: bool) -> None:
        limit = self.limit()
        depth = BURST_S if self.provisioned and self.override is None else 1.0
        if self.bucket is None:
            self.bucket = TokenBucket(limit, depth, now)
        elif self.bucket.rate != limit:
            self.bucket.set_rate(limit, now)
        self.bucket.refill(now)
        if partitioned:
            wanted = max(1, math.ceil(limit / PARTITION_WRU_PER_S))
            while len(self.partitions) < wanted:
                self.partitions.append(TokenBucket(PARTITION_WRU_PER_S, 1.0, now))
            for partition in self.partitions:
                partition.refill(now)


@dataclass(frozen=True, slots=True)
class Throttle:
    """Why a write was not served: the error code DynamoDB answers with and its ThrottlingReason."""

    code: str
    reason: str
    resource: str


@dataclass(slots=True)
class TableStats:
    """What the model did to one table (read by tests and the bench through the emulator's API)."""

    consumed_wru: float = 0.0
    written_items: int = 0
    throttled_items: int = 0
    throttled_requests: int = 0


class CapacityModel:
    """Every table's write capacity in one local AWS process; thread-safe, cheap per request."""

    def __init__(self, *, enabled: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self._clock = clock
        self._lock = threading.Lock()
        self._tables: dict[str, _Limiter] = {}
        self._indexes: dict[tuple[str, str], _Limiter] = {}
        self._overrides: dict[str, float | None] = {}
        self._disabled: set[str] = set()
        self._max_on_demand: dict[str, int] = {}
        self.stats: dict[str, TableStats] = {}

    # --- configuration --------------------------------------------------------------------------------

    def configure(self, table: str, *, enabled: bool = True, write_units_per_second: float | None = None) -> None:
        """Turn the model off for one table, or give it a fixed write limit (WRU/s, no burst) instead of AWS's."""
        with self._lock:
            if enabled:
                self._disabled.discard(table)
            else:
                self._disabled.add(table)
            self._overrides[table] = write_units_per_second
            self._tables.pop(table, None)  # rebuilt with the new settings on the next write

    def set_max_on_demand(self, table: str, units: int | None) -> None:
        """Record ``OnDemandThroughput.MaxWriteRequestUnits`` from CreateTable/UpdateTable (moto keeps none)."""
        with self._lock:
            if units and units > 0:
                self._max_on_demand[table] = int(units)
            else:
                self._max_on_demand.pop(table, None)
            self._tables.pop(table, None)

    def max_on_demand(self, table: str) -> int | None:
        return self._max_on_demand.get(table)

    def forget(self, table: str) -> None:
        """A deleted table: a new one of the same name starts fresh."""
        with self._lock:
            self._tables.pop(table, None)
            self._max_on_demand.pop(table, None)
            for key in [k for k in self._indexes if k[0] == table]:
                del self._indexes[key]
            self.stats.pop(table, None)

    def describe(self) -> dict[str, Any]:
        """The model's settings and counters, per table."""
        with self._lock:
            tables = set(self.stats) | set(self._overrides) | self._disabled | set(self._max_on_demand)
            return {
                "enabled": self.enabled,
                "tables": {
                    name: {
                        "enabled": name not in self._disabled,
                        "write_units_per_second": self._overrides.get(name),
                        "max_write_request_units": self._max_on_demand.get(name),
                        "limit_wru_per_second": self._tables[name].limit() if name in self._tables else None,
                        **vars_of(self.stats.get(name, TableStats())),
                    }
                    for name in sorted(tables)
                },
            }

    # --- admission ------------------------------------------------------------------------------------

    def admit(self, shape: TableShape, items: list[Mapping[str, Any] | None]) -> list[Throttle | None]:
        """For each item written in one request (None: a write whose size is not known here, costed 1 WRU),
        None when it is served, else why it is throttled. Served items consume their WRU."""
        if not self.enabled or shape.name in self._disabled:
            return [None] * len(items)
        with self._lock:
            now = self._clock()
            table = self._limiter(shape, now)
            indexes = [(index, self._index_limiter(shape, index, now)) for index in shape.indexes]
            stats = self.stats.setdefault(shape.name, TableStats())
            verdicts: list[Throttle | None] = []
            for item in items:
                units = write_units(item_size(item)) if item is not None else 1
                assert table.bucket is not None
                partition = table.partitions[_partition(item, shape, len(table.partitions))]
                index_units = [
                    (index.units(item, shape.keys) if item is not None else 0, index, lim) for index, lim in indexes
                ]
                verdict = None
                if not table.bucket.can_take(units):
                    verdict = _throttle(shape.arn, "Table", table)
                elif not partition.can_take(units):
                    verdict = Throttle(THROTTLING_ERROR, "TableWriteKeyRangeThroughputExceeded", shape.arn)
                else:
                    for cost, index, lim in index_units:
                        assert lim.bucket is not None
                        if cost and not lim.bucket.can_take(cost):
                            verdict = _throttle(f"{shape.arn}/index/{index.name}", "Index", lim)
                            break
                if verdict is None:
                    table.bucket.take(units)
                    partition.take(units)
                    table.peak.add(units, now)
                    consumed = units
                    for cost, _, lim in index_units:
                        if cost:
                            assert lim.bucket is not None
                            lim.bucket.take(cost)
                            lim.peak.add(cost, now)
                            consumed += cost
                    stats.consumed_wru += consumed
                    stats.written_items += 1
                else:
                    stats.throttled_items += 1
                verdicts.append(verdict)
            if verdicts and all(verdicts):
                stats.throttled_requests += 1
            return verdicts

    def _limiter(self, shape: TableShape, now: float) -> _Limiter:
        limiter = self._tables.get(shape.name)
        if limiter is None or (limiter.provisioned, limiter.capacity_units) != (
            shape.provisioned,
            shape.write_capacity_units,
        ):
            limiter = _Limiter(
                shape.provisioned,
                shape.write_capacity_units,
                shape.max_write_request_units or self._max_on_demand.get(shape.name),
                now,
                override=self._overrides.get(shape.name),
            )
            self._tables[shape.name] = limiter
        limiter.refresh(now, partitioned=True)
        return limiter

    def _index_limiter(self, shape: TableShape, index: Index, now: float) -> _Limiter:
        key = (shape.name, index.name)
        limiter = self._indexes.get(key)
        if limiter is None or limiter.capacity_units != index.write_capacity_units:
            limiter = _Limiter(shape.provisioned, index.write_capacity_units, index.max_write_request_units, now)
            self._indexes[key] = limiter
        limiter.refresh(now, partitioned=False)
        return limiter


def vars_of(stats: TableStats) -> dict[str, Any]:
    return {name: getattr(stats, name) for name in TableStats.__slots__}  # type: ignore[attr-defined]


def _throttle(resource: str, kind: str, limiter: _Limiter) -> Throttle:
    reason = limiter.reason()
    code = PROVISIONED_ERROR if reason == "ProvisionedThroughputExceeded" else THROTTLING_ERROR
    return Throttle(code, f"{kind}Write{reason}", resource)


def _partition(item: Mapping[str, Any] | None, shape: TableShape, count: int) -> int:
    if item is None or count == 1 or shape.partition_key not in item:
        return 0
    value = json.dumps(item[shape.partition_key], sort_keys=True).encode()
    return int.from_bytes(hashlib.md5(value, usedforsecurity=False).digest()[:8], "big") % count


# --- the request side: what the server calls ------------------------------------------------------------


def shape_of(table: Any, max_on_demand: int | None = None) -> TableShape:
    """The capacity-relevant parts of a moto table."""
    keys = tuple(k for k in (table.hash_key_attr, table.range_key_attr) if k)
    indexes = []
    for index in getattr(table, "global_indexes", []) or []:
        projection = index.projection or {}
        throughput = getattr(index, "throughput", None) or {}
        indexes.append(
            Index(
                name=index.name,
                keys=tuple(k["AttributeName"] for k in index.schema),
                projection=projection.get("ProjectionType", "ALL"),
                non_key=tuple(projection.get("NonKeyAttributes", [])),
                write_capacity_units=throughput.get("WriteCapacityUnits") or None,
            )
        )
    provisioned = (table.billing_mode or "PROVISIONED") == "PROVISIONED" and bool(
        table.throughput.get("WriteCapacityUnits")
    )
    return TableShape(
        name=table.name,
        arn=table.table_arn,
        partition_key=table.hash_key_attr,
        keys=keys,
        billing_mode="PROVISIONED" if provisioned else "PAY_PER_REQUEST",
        write_capacity_units=int(table.throughput["WriteCapacityUnits"]) if provisioned else None,
        max_write_request_units=max_on_demand,
        indexes=tuple(indexes),
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one write request: pass ``body`` on to moto (None: unchanged), answer ``error`` instead,
    and add ``unprocessed`` (per table) to a BatchWriteItem's answer."""

    body: bytes | None = None
    error: Throttle | None = None
    unprocessed: dict[str, list[Any]] = field(default_factory=dict)


def decide(
    model: CapacityModel, operation: str, request: Mapping[str, Any], table: Callable[[str], TableShape | None]
) -> Decision:
    """Apply the model to one write request (``table`` finds a table's shape by name; None: let moto answer)."""
    if operation == "BatchWriteItem":
        return _decide_batch(model, request, table)
    shape = table(str(request.get("TableName", "")))
    if shape is None:
        return Decision()
    item = request.get("Item") if operation == "PutItem" else None
    verdict = model.admit(shape, [item if isinstance(item, Mapping) else None])[0]
    return Decision(error=verdict) if verdict else Decision()


def _decide_batch(
    model: CapacityModel, request: Mapping[str, Any], table: Callable[[str], TableShape | None]
) -> Decision:
    kept: dict[str, list[Any]] = {}
    unprocessed: dict[str, list[Any]] = {}
    throttles: list[Throttle] = []
    for name, writes in (request.get("RequestItems") or {}).items():
        shape = table(name)
        if shape is None or not isinstance(writes, list):
            kept[name] = writes
            continue
        items = [_written_item(write) for write in writes]
        for write, verdict in zip(writes, model.admit(shape, items), strict=True):
            if verdict is None:
                kept.setdefault(name, []).append(write)
            else:
                unprocessed.setdefault(name, []).append(write)
                throttles.append(verdict)
    if not unprocessed:
        return Decision()
    if not kept:
        provisioned = [t for t in throttles if t.code == PROVISIONED_ERROR]
        return Decision(error=(provisioned or throttles)[0])
    return Decision(body=json.dumps({**request, "RequestItems": kept}).encode(), unprocessed=unprocessed)


def _written_item(write: Any) -> Mapping[str, Any] | None:
    put = write.get("PutRequest") if isinstance(write, Mapping) else None
    item = put.get("Item") if isinstance(put, Mapping) else None
    return item if isinstance(item, Mapping) else None


def error_body(throttle: Throttle) -> bytes:
    """The JSON error DynamoDB answers a throttled request with (HTTP 400)."""
    if throttle.code == PROVISIONED_ERROR:
        document: dict[str, Any] = {
            "__type": f"com.amazonaws.dynamodb.v20120810#{PROVISIONED_ERROR}",
            "message": "The level of configured provisioned throughput for the table was exceeded. Consider "
            "increasing your provisioning level with the UpdateTable API.",
            "ThrottlingReasons": [{"reason": throttle.reason, "resource": throttle.resource}],
        }
    else:
        document = {
            "__type": f"com.amazonaws.dynamodb.v20120810#{THROTTLING_ERROR}",
            "message": "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
            "scaling your table or index so please try again shortly.",
            "throttlingReasons": [{"reason": throttle.reason, "resource": throttle.resource}],
        }
    return json.dumps(document).encode()


def merge_unprocessed(body: bytes, unprocessed: Mapping[str, list[Any]]) -> bytes:
    """A BatchWriteItem answer from moto with the throttled writes added to its UnprocessedItems."""
    document = json.loads(body or b"{}")
    left = document.setdefault("UnprocessedItems", {})
    for name, writes in unprocessed.items():
        left.setdefault(name, []).extend(writes)
    return json.dumps(document).encode()
