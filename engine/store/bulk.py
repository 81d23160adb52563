"""Bulk loading of customers: the state the engine's scripts would leave, written as raw RESP.

A million demo customers must load in under two minutes on a two-core machine, and the path the
API uses cannot get there: a Python object per activity and one Lua call per customer, each
running dozens of HINCRBYs, cost about 700 microseconds per customer (12 minutes). So the state
``attributes.lua`` and ``activities.lua`` would leave behind is computed here in bulk, from
customers given as columns (:class:`CustomerColumns`), and written with plain DEL, HSET and
EXPIRE commands in large non-transactional pipelines. The RESP bytes are assembled by numpy as
well: building ~150 small strings per customer in Python would cost more than Valkey spends
storing them, and redis-py would pack every argument and parse every reply in Python again
(:class:`BulkWriter` streams the bytes as they are). ``bench/scale.py`` measures the load
against the script path it replaced; ``tests/synthetic/test_demo_bulk.py`` loads the same
customers through the engine's scripts and compares every key, value and expiry.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import hiredis
import numpy as np
import numpy.typing as npt
import orjson
from redis.asyncio.connection import parse_url

from engine.domain.channels import CHANNELS
from engine.domain.profiles import (
    ACTIVITY_TYPES,
    HISTORY_DAYS,
    SECONDS_PER_DAY,
    VISIT_TYPES,
    day_number,
)
from engine.errors import StoreUnavailable
from engine.store import keys

__all__ = ["AttributeValues", "BulkWriter", "CustomerColumns", "encode_customers"]

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Tokens = npt.NDArray[np.bytes_]

# --- RESP tokens ---------------------------------------------------------------------------

# Bytes per token (a RESP header or bulk string, NUL-padded); the longest, a customer key, has
# 24 bytes up to c-9999999 and 27 up to c-9999999999.
WIDTH = 32
_POWERS = 10 ** np.arange(1, 19, dtype=np.int64)  # 10 .. 10^18


def _bulk(value: str | bytes | int) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _command_head(name: str, argc: int) -> bytes:
    return b"*%d\r\n" % argc + _bulk(name)


def _tokens(values: Sequence[bytes]) -> Tokens:
    if any(len(v) >= WIDTH for v in values):
        raise ValueError("a RESP token does not fit in WIDTH bytes")
    return np.array(values, dtype=f"S{WIDTH}")


def _framed_numbers(values: Ints, prefix: bytes = b"", suffix: bytes = b"") -> Tokens:
    """``prefix + decimal + suffix`` as RESP bulk strings, for values >= 0.

    Values with the same number of digits share one layout, so each group is written column
    by column: a handful of array operations instead of one string format per value.
    """
    out = np.zeros((len(values), WIDTH), dtype=np.uint8)
    digits = np.searchsorted(_POWERS, values, side="right") + 1
    for count in np.unique(digits).tolist():
        rows = np.flatnonzero(digits == count)
        head = b"$%d\r\n" % (len(prefix) + count + len(suffix)) + prefix
        tail = suffix + b"\r\n"
        if len(head) + count + len(tail) >= WIDTH:
            raise ValueError("a RESP token does not fit in WIDTH bytes")
        block = out[rows]
        block[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
        left = values[rows]
        for position in range(len(head) + count - 1, len(head) - 1, -1):
            block[:, position] = left % 10 + 48
            left = left // 10
        block[:, len(head) + count : len(head) + count + len(tail)] = np.frombuffer(
            tail, dtype=np.uint8
        )
        out[rows] = block
    return out.view(f"S{WIDTH}").ravel()


_SMALL_INTS = _tokens([_bulk(i) for i in range(10_000)])


def _framed_ints(values: Ints) -> Tokens:
    """RESP bulk strings of integers >= 0: the common small ones by table lookup."""
    out = _SMALL_INTS[np.minimum(values, len(_SMALL_INTS) - 1)]
    big = values >= len(_SMALL_INTS)
    if big.any():
        out[big] = _framed_numbers(values[big])
    return out


def _joined(left: Tokens, right: Tokens) -> Tokens:
    """Token-wise concatenation; fast when the left tokens share one length (the usual case)."""
    lengths = np.strings.str_len(left)
    ours = left.view(np.uint8).reshape(len(left), -1)
    theirs = right.view(np.uint8).reshape(len(right), -1)
    out = np.zeros((len(left), WIDTH), dtype=np.uint8)
    shortest, longest = (int(lengths.min()), int(lengths.max())) if len(left) else (0, 0)
    for length in range(shortest, longest + 1):
        width = min(theirs.shape[1], WIDTH - length)
        if shortest == longest:
            out[:, :length] = ours[:, :length]
            out[:, length : length + width] = theirs[:, :width]
            break
        rows = np.flatnonzero(lengths == length)
        block = out[rows]
        block[:, :length] = ours[rows, :length]
        block[:, length : length + width] = theirs[rows, :width]
        out[rows] = block
    if out[:, -1].any():
        raise ValueError("a RESP token does not fit in WIDTH bytes")
    return out.view(f"S{WIDTH}").ravel()


def _key_tokens(key_of: Callable[[str], str], ids: Ints) -> Tokens:
    """Framed keys of customers ``c-<id>``, built around ``engine.store.keys`` (the layout)."""
    marker = "\x00"
    prefix, suffix = key_of(f"c-{marker}").split(marker)
    return _framed_numbers(ids, prefix.encode(), suffix.encode())


class AttributeValues:
    """The values one profile attribute takes, framed once: a customer's value is a code into
    them. Values are stored JSON-encoded, as ``engine.customers.service.upsert_attributes``
    stores them."""

    def __init__(self, name: str, values: Iterable[object]) -> None:
        self.name = name
        self.name_token = _bulk(name)
        self.value_tokens = _tokens([_bulk(orjson.dumps(v)) for v in values])


@dataclass(frozen=True)
class CustomerColumns:
    """Customers ``c-<start>`` onwards as columns: what the bulk loader writes.

    ``attributes`` pairs each attribute's values with a code per customer (an index into them),
    written in that order. Activities are rows grouped by customer, in order: ``owner`` is the
    customer's position here, ``kind`` an index into ``ACTIVITY_TYPES``, ``channel`` one into
    ``CHANNELS`` and ``cents`` a purchase's value (0 for anything else).
    """

    start: int
    attributes: tuple[tuple[AttributeValues, Ints], ...]
    signed_up: Ints
    owner: Ints
    ts: Ints
    kind: Ints
    channel: Ints
    cents: Ints

    def __len__(self) -> int:
        return len(self.signed_up)


# --- The stored form ------------------------------------------------------------------------

_VISIT_KIND = np.array([kind in VISIT_TYPES for kind in ACTIVITY_TYPES])
_PURCHASE_KIND = ACTIVITY_TYPES.index("purchase")
_SUPPORT_KIND = ACTIVITY_TYPES.index("support_contact")

# Day-bucket metrics of activities.lua: a channel code per channel, then visits, purchases,
# revenue (cents) and support contacts.
_METRICS = (*(keys.CHANNEL_CODES[c] for c in CHANNELS), "v", "p", "r", "s")
_M = len(_METRICS)
_VISITS, _PURCHASES, _REVENUE, _SUPPORT = (_METRICS.index(m) for m in "vprs")
_CHANNEL_VALUES = _tokens([_bulk(keys.CHANNEL_CODES[c]) for c in CHANNELS])
_DEL = _command_head("DEL", 5)
_EXPIRE = _command_head("EXPIRE", 3)
# the activity hash holds at most one field per day and metric, plus 8 scalars
_HSET_HEADS = _tokens([_command_head("HSET", 2 + 2 * k) for k in range(HISTORY_DAYS * _M + 9)])
# scalars of the activity hash, in the order of the columns computed in _activity_fields
_SCALARS = ("fs", "la", "lc", "lv", "lp", "tp", "tr", "pd")
_SCALAR_NAMES = _tokens([_bulk(s) for s in _SCALARS])


def _bucket_names(floor_day: int) -> Tokens:
    return _tokens([_bulk(f"{floor_day + d}:{m}") for d in range(HISTORY_DAYS) for m in _METRICS])


def _group_reduce(ufunc: np.ufunc, values: Ints, starts: Ints, has: Bools, empty: int) -> Ints:
    out = np.full(len(has), empty, dtype=np.int64)
    if len(values):
        out[has] = ufunc.reduceat(values, starts)
    return out


def _runs(sorted_ids: Ints) -> Ints:
    """Start of each run of equal values in a sorted array."""
    if not len(sorted_ids):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))


@dataclass(frozen=True)
class _Fields:
    """Field + value tokens of activity hashes, each group ordered by customer."""

    groups: tuple[tuple[Ints, Tokens], ...]  # (owner per token, tokens)


def _activity_fields(pop: CustomerColumns, now: float) -> _Fields:
    """What attributes.lua then activities.lua leave in a freshly erased activity hash.

    ``fs`` from the sign-up (or an earlier activity); and for a customer with activities, day
    buckets inside the window, lifetime totals, latest times, the latest channel (the last row
    among equal timestamps) and the pruning day ``pd``.
    """
    n = len(pop)
    today = day_number(now)
    floor_day = today - HISTORY_DAYS + 1
    owner, ts = pop.owner, pop.ts
    per_customer = np.bincount(owner, minlength=n)
    has = per_customer > 0
    starts = (np.cumsum(per_customer) - per_customer)[has]
    visit = _VISIT_KIND[pop.kind]
    purchase = pop.kind == _PURCHASE_KIND
    support = pop.kind == _SUPPORT_KIND

    la = _group_reduce(np.maximum, ts, starts, has, -1)
    rows = np.arange(len(ts))
    latest_row = _group_reduce(np.maximum, np.where(ts == la[owner], rows, -1), starts, has, 0)
    scalar_values = np.stack(
        [
            np.minimum(pop.signed_up, _group_reduce(np.minimum, ts, starts, has, 1 << 62)),
            la,
            pop.channel[latest_row] if len(ts) else np.zeros(n, dtype=np.int64),
            _group_reduce(np.maximum, np.where(visit, ts, -1), starts, has, -1),
            _group_reduce(np.maximum, np.where(purchase, ts, -1), starts, has, -1),
            _group_reduce(np.add, purchase.astype(np.int64), starts, has, 0),
            _group_reduce(np.add, pop.cents, starts, has, 0),
            np.full(n, today, dtype=np.int64),
        ],
        axis=1,
    )
    present = np.stack(
        [
            np.ones(n, dtype=bool),
            has,
            has,
            scalar_values[:, 3] >= 0,
            scalar_values[:, 4] >= 0,
            scalar_values[:, 5] > 0,
            scalar_values[:, 6] > 0,
            has,
        ],
        axis=1,
    )
    scalar_owner, scalar_column = np.nonzero(present)
    values = scalar_values[present]
    is_channel = scalar_column == _SCALARS.index("lc")
    value_tokens = _framed_ints(np.where(is_channel, 0, values))
    value_tokens[is_channel] = _CHANNEL_VALUES[values[is_channel]]
    scalars = _joined(_SCALAR_NAMES[scalar_column], value_tokens)

    # Day buckets: one (customer, day, metric) id per counted row; counts are run lengths of
    # the sorted ids, revenue (weighted by cents) is summed over its own sorted runs.
    day = ts // SECONDS_PER_DAY
    inside = day >= floor_day
    span = HISTORY_DAYS * _M
    base = (owner * HISTORY_DAYS + (day - floor_day)) * _M
    counted = np.concatenate(
        [
            (base + pop.channel)[inside],
            (base + _VISITS)[inside & visit],
            (base + _PURCHASES)[inside & purchase],
            (base + _SUPPORT)[inside & support],
        ]
    )
    counted = np.sort(counted.astype(np.int32) if n * span < 2**31 else counted)  # 32: faster
    runs = _runs(counted)
    count_ids = counted[runs]
    counts = np.diff(np.append(runs, len(counted)))
    paid = inside & purchase & (pop.cents > 0)
    order = np.argsort(base[paid], kind="stable")
    revenue_rows = (base[paid] + _REVENUE)[order]
    runs = _runs(revenue_rows)
    revenue_ids = revenue_rows[runs]
    revenue = np.add.reduceat(pop.cents[paid][order], runs) if len(runs) else runs
    names = _bucket_names(floor_day)
    return _Fields(
        (
            (count_ids // span, _joined(names[count_ids % span], _framed_ints(counts))),
            (revenue_ids // span, _joined(names[revenue_ids % span], _framed_ints(revenue))),
            (scalar_owner, scalars),
        )
    )


def encode_customers(pop: CustomerColumns, now: float, retention_seconds: int) -> tuple[bytes, int]:
    """RESP for every customer of ``pop`` (erase, then write as the scripts would); replies.

    Per customer: DEL of its data keys (a reload replaces, never adds to counters), HSET of the
    profile, HSET of the activity hash and, with retention, an EXPIRE of each of the two. All
    tokens go into one NUL-padded array at computed positions; dropping the padding gives the
    byte stream.
    """
    n = len(pop)
    ids = np.arange(pop.start, pop.start + n, dtype=np.int64)
    attributes_key = _key_tokens(keys.customer_attributes, ids)
    activity_key = _key_tokens(keys.customer_activity, ids)
    groups = _activity_fields(pop, now).groups
    sizes = [np.bincount(owner, minlength=n) for owner, _ in groups]
    fields = np.sum(sizes, axis=0)
    head = 5 + 2 + 2 * len(pop.attributes) + 2  # DEL, HSET profile, HSET activity head and key
    tail = 6 if retention_seconds > 0 else 0
    per_customer = head + fields + tail
    base = np.cumsum(per_customer) - per_customer
    tokens = np.zeros(int(per_customer.sum()), dtype=f"S{WIDTH}")
    tokens[base] = _DEL
    tokens[base + 1] = attributes_key
    tokens[base + 2] = activity_key
    tokens[base + 3] = _key_tokens(keys.customer_contacts, ids)
    tokens[base + 4] = _key_tokens(keys.customer_assignments, ids)
    tokens[base + 5] = _command_head("HSET", 2 + 2 * len(pop.attributes))
    tokens[base + 6] = attributes_key
    for i, (attribute, codes) in enumerate(pop.attributes):
        tokens[base + 7 + 2 * i] = attribute.name_token
        tokens[base + 8 + 2 * i] = attribute.value_tokens[codes]
    tokens[base + head - 2] = _HSET_HEADS[fields]
    tokens[base + head - 1] = activity_key
    before = base + head  # where the next group's fields of each customer go
    for (owner, group), size in zip(groups, sizes, strict=True):
        rank = np.arange(len(owner)) - (np.cumsum(size) - size)[owner]
        tokens[before[owner] + rank] = group
        before = before + size
    if retention_seconds > 0:
        ttl = _bulk(retention_seconds)
        for offset, key in ((0, attributes_key), (3, activity_key)):
            tokens[before + offset] = _EXPIRE
            tokens[before + offset + 1] = key
            tokens[before + offset + 2] = ttl
    matrix = tokens.view(np.uint8).reshape(len(tokens), WIDTH)
    # RESP text never holds a NUL byte: the padding is exactly what to drop
    payload = matrix[matrix != 0].tobytes()
    return payload, n * (3 + (2 if retention_seconds > 0 else 0))


# --- Writing ------------------------------------------------------------------------------


class BulkWriter:
    """One dedicated connection that streams prebuilt RESP while a thread counts the replies.

    redis-py packs each argument and parses each reply in Python, which at five commands per
    customer costs more than the server's own work; here the bytes go out as they are and
    hiredis counts the replies, keeping the first error. Blocking sockets in threads rather than
    asyncio: ``sendall`` releases the GIL for as long as the server is reading, so generating
    the next chunk never stalls the stream (an event loop sharing the GIL with numpy did, and
    the store sat idle). Sends do not wait for replies, so the store always has work queued.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._parser = hiredis.Reader()
        self._lock = threading.Condition()
        self._pending: deque[tuple[int, Callable[[], None] | None]] = deque()
        self._expected = 0  # replies owed by everything sent so far
        self._seen = 0
        self._error: str | None = None
        self._reader: threading.Thread | None = None

    @classmethod
    def connect(cls, url: str, connect_seconds: float) -> BulkWriter:
        options = parse_url(url)
        try:
            if "path" in options:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(connect_seconds)
                sock.connect(options["path"])
            else:
                host = options.get("host", "localhost")
                sock = socket.create_connection((host, options.get("port", 6379)), connect_seconds)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if url.startswith("rediss://"):
                    context = ssl.create_default_context()
                    if options.get("ssl_cert_reqs") == "none":
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                    sock = context.wrap_socket(sock, server_hostname=host)
            sock.settimeout(None)
        except OSError as exc:
            raise StoreUnavailable("store unavailable during bulk load") from exc
        bulk = cls(sock)
        hello: list[bytes] = []
        if options.get("password"):
            auth = [options["password"]]
            if options.get("username"):
                auth.insert(0, options["username"])
            hello.append(_command_head("AUTH", 1 + len(auth)) + b"".join(_bulk(a) for a in auth))
        if options.get("db"):
            hello.append(_command_head("SELECT", 2) + _bulk(int(options["db"])))
        bulk._reader = threading.Thread(target=bulk._read, name="nbo-bulk-replies", daemon=True)
        bulk._reader.start()
        if hello:
            bulk.send(b"".join(hello), len(hello))
            bulk.wait()
        return bulk

    def send(self, payload: bytes, replies: int, done: Callable[[], None] | None = None) -> None:
        """Queue ``payload`` (``replies`` commands); ``done`` runs once all of them answered."""
        with self._lock:
            self._raise_if_failed()
            self._expected += replies
            self._pending.append((self._expected, done))
        try:
            self._sock.sendall(payload)
        except OSError as exc:
            self._fail(f"connection lost: {exc}")
            raise StoreUnavailable("store unavailable during bulk load") from exc

    def wait(self) -> None:
        """Block until every command sent has answered; raise if any failed."""
        with self._lock:
            self._lock.wait_for(lambda: self._seen >= self._expected or self._error is not None)
            self._raise_if_failed()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise StoreUnavailable(f"bulk load failed: {self._error}")

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self._error is None:
                self._error = reason
            self._lock.notify_all()

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(1 << 20)
            except OSError as exc:
                self._fail(f"connection lost: {exc}")
                return
            if not data:
                self._fail("connection closed by the store")
                return
            self._parser.feed(data)
            seen = 0
            error = None
            while (reply := self._parser.gets()) is not False:
                seen += 1
                if error is None and isinstance(reply, hiredis.ReplyError):
                    error = str(reply)
            finished: list[Callable[[], None]] = []
            with self._lock:
                self._seen += seen
                if error is not None and self._error is None:
                    self._error = f"refused by the store: {error}"
                while self._pending and self._pending[0][0] <= self._seen:
                    _, done = self._pending.popleft()
                    if done is not None:
                        finished.append(done)
                self._lock.notify_all()
            for done in finished:
                done()
