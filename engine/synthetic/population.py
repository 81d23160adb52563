"""Demo customers: generated as columns, stored as the engine's own scripts would store them.

A million demo customers must load in under two minutes on a two-core machine, and the path the
API uses cannot get there: a Python object per activity and one Lua call per customer, each
running dozens of HINCRBYs, cost about 700 microseconds per customer (12 minutes). So the
population is drawn with numpy a block of customers at a time, each block from its own random
stream (customer ``c-42`` is the same whatever the population size), and the state
``attributes.lua`` and ``activities.lua`` would leave behind is computed here in bulk and
written with plain DEL, HSET and EXPIRE commands in large non-transactional pipelines. The RESP
bytes are assembled by numpy as well: building ~150 small strings per customer in Python would
cost more than Valkey spends storing them. Tests load the same customers through the engine's
scripts and compare every key.

The population mixes personas (app-first, store-first, web shoppers, high spenders, lapsing,
support-heavy, dormant, new, casual) rather than one distribution, so every segment has members
and learned segmentation finds structure.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import hiredis
import numpy as np
import numpy.typing as npt
import orjson
from redis.asyncio.connection import parse_url

from engine.domain.channels import CHANNELS, Channel
from engine.domain.profiles import (
    ACTIVITY_TYPES,
    HISTORY_DAYS,
    SECONDS_PER_DAY,
    VISIT_TYPES,
    Activity,
    ActivityType,
    day_number,
)
from engine.errors import StoreUnavailable
from engine.store import keys

__all__ = [
    "BLOCK",
    "PERSONAS",
    "BulkWriter",
    "DemoCustomer",
    "Population",
    "encode_population",
    "generate_customer",
    "generate_population",
]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Tokens = npt.NDArray[np.bytes_]

# Customers per random stream. Changing it changes every generated customer.
BLOCK = 1024

# --- Personas -----------------------------------------------------------------------------

# (activity type, channel, mean count over the persona's window, mean order value or 0)
Spec = tuple[ActivityType, Channel, float, float]


@dataclass(frozen=True)
class Persona:
    name: str
    share: float
    window: tuple[float, float]  # active from .. to, in days before now
    specs: tuple[Spec, ...]
    recent: tuple[Spec, ...] = ()  # extra activity in the last 30 days
    tenure_days: tuple[float, float] = (120, 1500)
    silent_share: float = 0.0  # of this persona, how many never did anything recorded
    age: tuple[float, float] = (42, 13)
    tiers: tuple[float, float, float, float] = (0.55, 0.30, 0.12, 0.03)
    loyalty: float = 0.35
    push_opt_in: float = 0.35


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "app_first",
        0.17,
        (120, 0),
        (
            ("app_open", "mobile_app", 22, 0),
            ("search", "mobile_app", 6, 0),
            ("add_to_cart", "mobile_app", 5, 0),
            ("purchase", "mobile_app", 3.5, 45),
            ("push_open", "push", 6, 0),
            ("page_view", "web", 2, 0),
        ),
        age=(31, 8),
        push_opt_in=0.85,
    ),
    Persona(
        "store_first",
        0.14,
        (120, 0),
        (
            ("store_visit", "in_store", 12, 0),
            ("purchase", "in_store", 5, 60),
            ("email_open", "email", 2, 0),
            ("page_view", "web", 1, 0),
        ),
        age=(53, 12),
        loyalty=0.7,
    ),
    Persona(
        "web_shopper",
        0.19,
        (120, 0),
        (
            ("page_view", "web", 16, 0),
            ("search", "web", 6, 0),
            ("login", "web", 4, 0),
            ("add_to_cart", "web", 5, 0),
            ("purchase", "web", 3.5, 55),
            ("email_open", "email", 6, 0),
            ("email_click", "email", 2, 0),
            ("social_engagement", "social", 2, 0),
        ),
        age=(38, 11),
    ),
    Persona(
        "high_spender",
        0.08,
        (120, 0),
        (
            ("page_view", "web", 15, 0),
            ("app_open", "mobile_app", 12, 0),
            ("store_visit", "in_store", 3, 0),
            ("purchase", "web", 5, 170),
            ("purchase", "mobile_app", 3, 150),
            ("purchase", "in_store", 2, 220),
            ("email_open", "email", 6, 0),
            ("email_click", "email", 3, 0),
        ),
        age=(45, 10),
        tiers=(0.05, 0.25, 0.45, 0.25),
        loyalty=0.8,
        push_opt_in=0.5,
    ),
    Persona(
        "lapsing",
        0.06,
        (120, 45),
        (
            ("page_view", "web", 10, 0),
            ("purchase", "web", 3, 75),
            ("email_open", "email", 3, 0),
        ),
        recent=(("page_view", "web", 2, 0), ("email_open", "email", 2, 0)),
        tiers=(0.35, 0.4, 0.2, 0.05),
    ),
    Persona(
        "support_heavy",
        0.07,
        (120, 0),
        (
            ("page_view", "web", 8, 0),
            ("login", "web", 4, 0),
            ("purchase", "web", 2, 40),
            ("sms_click", "sms", 1.5, 0),
        ),
        recent=(
            ("call", "call_center", 4, 0),
            ("support_contact", "call_center", 4, 0),
            ("support_contact", "web", 1.5, 0),
        ),
        age=(48, 14),
    ),
    Persona(
        "dormant",
        0.12,
        (120, 91),
        (
            ("page_view", "web", 5, 0),
            ("purchase", "web", 0.8, 50),
            ("email_open", "email", 2, 0),
        ),
        tenure_days=(150, 1500),
        silent_share=0.25,
    ),
    Persona(
        "new",
        0.09,
        (29, 0),  # clipped to the days since sign-up
        (
            ("app_open", "mobile_app", 4, 0),
            ("page_view", "web", 5, 0),
            ("purchase", "web", 0.7, 35),
            ("email_open", "email", 2, 0),
        ),
        tenure_days=(0, 29),
        age=(34, 11),
        tiers=(1.0, 0.0, 0.0, 0.0),
        loyalty=0.1,
    ),
    Persona(
        "casual",
        0.08,
        (120, 0),
        (
            ("email_open", "email", 5, 0),
            ("email_click", "email", 1.2, 0),
            ("social_engagement", "social", 5, 0),
            ("page_view", "web", 3, 0),
            ("purchase", "web", 0.7, 40),
            ("sms_click", "sms", 1, 0),
            ("push_open", "push", 1, 0),
        ),
    ),
)

COUNTRIES = ("DE", "FR", "ES", "IT", "NL", "GB")
_COUNTRY_CDF = np.cumsum((0.3, 0.2, 0.15, 0.12, 0.08, 0.15))
LANGUAGES = {"DE": "de", "FR": "fr", "ES": "es", "IT": "it", "NL": "nl", "GB": "en"}
_LANGUAGE_VALUES = ("de", "fr", "es", "it", "nl", "en")
_COUNTRY_LANGUAGE = np.array([_LANGUAGE_VALUES.index(LANGUAGES[c]) for c in COUNTRIES])
TIERS = ("bronze", "silver", "gold", "platinum")


def _persona_column(values: Sequence[float]) -> Floats:
    return np.asarray(values, dtype=np.float64)


_P = len(PERSONAS)
_PERSONA_CDF = np.cumsum([p.share for p in PERSONAS]) / sum(p.share for p in PERSONAS)
_WINDOW_OLD = _persona_column([p.window[0] for p in PERSONAS])
_WINDOW_NEW = _persona_column([p.window[1] for p in PERSONAS])
_TENURE_LO = _persona_column([p.tenure_days[0] for p in PERSONAS])
_TENURE_HI = _persona_column([p.tenure_days[1] for p in PERSONAS])
_SILENT = _persona_column([p.silent_share for p in PERSONAS])
_AGE_MEAN = _persona_column([p.age[0] for p in PERSONAS])
_AGE_SD = _persona_column([p.age[1] for p in PERSONAS])
_TIER_CDF = np.cumsum([p.tiers for p in PERSONAS], axis=1)
_LOYALTY = _persona_column([p.loyalty for p in PERSONAS])
_PUSH = _persona_column([p.push_opt_in for p in PERSONAS])

# Activity specs as persona x slot tables (padded with zero-mean slots).
_S = max(len(p.specs) + len(p.recent) for p in PERSONAS)
_SPEC_MEAN = np.zeros((_P, _S))
_SPEC_VALUE = np.zeros((_P, _S))
_SPEC_RECENT = np.zeros((_P, _S), dtype=bool)
_SPEC_KIND = np.zeros((_P, _S), dtype=np.int64)
_SPEC_CHANNEL = np.zeros((_P, _S), dtype=np.int64)
for _p, _persona in enumerate(PERSONAS):
    for _s, (_kind, _channel, _mean, _value) in enumerate(_persona.specs + _persona.recent):
        _SPEC_MEAN[_p, _s] = _mean
        _SPEC_VALUE[_p, _s] = _value
        _SPEC_RECENT[_p, _s] = _s >= len(_persona.specs)
        _SPEC_KIND[_p, _s] = ACTIVITY_TYPES.index(_kind)
        _SPEC_CHANNEL[_p, _s] = CHANNELS.index(_channel)

_VISIT_KIND = np.array([kind in VISIT_TYPES for kind in ACTIVITY_TYPES])
_PURCHASE_KIND = ACTIVITY_TYPES.index("purchase")
_SUPPORT_KIND = ACTIVITY_TYPES.index("support_contact")


@dataclass(frozen=True)
class Population:
    """Customers ``c-<start>`` onwards as columns; activities grouped by customer, in order."""

    start: int
    persona: Ints
    country: Ints
    language: Ints
    tier: Ints
    age: Ints
    email_opt_in: Bools
    sms_opt_in: Bools
    push_opt_in: Bools
    loyalty_member: Bools
    signed_up: Ints
    owner: Ints  # per activity: the customer's position in this population
    ts: Ints
    kind: Ints
    channel: Ints
    cents: Ints

    def __len__(self) -> int:
        return len(self.persona)

    def slice(self, lo: int, hi: int) -> Population:
        """Customers at positions lo .. hi - 1 (activities follow their customers)."""
        a, b = (int(i) for i in np.searchsorted(self.owner, [lo, hi]))
        columns: dict[str, Any] = {n: getattr(self, n)[lo:hi] for n in _CUSTOMER_COLUMNS}
        columns |= {n: getattr(self, n)[a:b] for n in _ACTIVITY_COLUMNS}
        columns["owner"] = self.owner[a:b] - lo
        return Population(start=self.start + lo, **columns)

    @staticmethod
    def concat(parts: Sequence[Population]) -> Population:
        offsets = np.cumsum([0, *(len(p) for p in parts[:-1])])
        columns: dict[str, Any] = {
            n: np.concatenate([getattr(p, n) for p in parts])
            for n in (*_CUSTOMER_COLUMNS, *_ACTIVITY_COLUMNS)
        }
        columns["owner"] = np.concatenate(
            [p.owner + offset for p, offset in zip(parts, offsets, strict=True)]
        )
        return Population(start=parts[0].start, **columns)


_CUSTOMER_COLUMNS = (
    "persona",
    "country",
    "language",
    "tier",
    "age",
    "email_opt_in",
    "sms_opt_in",
    "push_opt_in",
    "loyalty_member",
    "signed_up",
)
_ACTIVITY_COLUMNS = ("ts", "kind", "channel", "cents")


def _generate_block(block: int, seed: int, now: float, history_days: int) -> Population:
    """Customers ``c-<block * BLOCK>`` .. from one random stream, every draw vectorised."""
    rng = np.random.default_rng([seed, block])
    n = BLOCK
    u = rng.random((n, 10))
    persona = np.minimum(np.searchsorted(_PERSONA_CDF, u[:, 0], side="right"), _P - 1)
    country = np.minimum(np.searchsorted(_COUNTRY_CDF, u[:, 1], side="right"), len(COUNTRIES) - 1)
    language = np.where(u[:, 2] < 0.9, _COUNTRY_LANGUAGE[country], _LANGUAGE_VALUES.index("en"))
    tier = np.minimum((_TIER_CDF[persona] <= u[:, 3:4]).sum(axis=1), len(TIERS) - 1)
    active = u[:, 8] >= _SILENT[persona]
    tenure = _TENURE_LO[persona] + (_TENURE_HI - _TENURE_LO)[persona] * u[:, 9]
    age = np.clip(rng.normal(_AGE_MEAN[persona], _AGE_SD[persona]), 18, 90).astype(np.int64)
    intensity = rng.gamma(4.0, 0.25, size=n) * active  # mean 1: customers of a persona differ
    counts = rng.poisson(_SPEC_MEAN[persona] * intensity[:, None]).ravel()
    # Activity happens in [newest, oldest] days before now; "recent" specs in the last 30.
    oldest = np.minimum(np.minimum(_WINDOW_OLD[persona], float(history_days)), tenure)
    newest = np.minimum(_WINDOW_NEW[persona], oldest)
    recent = _SPEC_RECENT[persona]
    low = np.where(recent, 0.0, newest[:, None]).ravel()
    high = np.where(recent, np.minimum(30.0, tenure)[:, None], oldest[:, None]).ravel()
    slot = np.repeat(np.arange(n * _S), counts)
    owner = slot // _S
    ages = np.minimum(low[slot] + (high - low)[slot] * rng.random(len(slot)), high[slot])
    spec_persona, spec_slot = persona[owner], slot % _S
    mean_value = _SPEC_VALUE[spec_persona, spec_slot]
    values = mean_value * rng.lognormal(-0.125, 0.5, size=len(slot))
    cents = np.where(mean_value > 0, np.maximum(np.rint(values * 100), 1), 0)
    return Population(
        start=block * BLOCK,
        persona=persona,
        country=country,
        language=language,
        tier=tier,
        age=age,
        email_opt_in=u[:, 4] < 0.7,
        sms_opt_in=u[:, 5] < 0.4,
        push_opt_in=u[:, 6] < _PUSH[persona],
        loyalty_member=u[:, 7] < _LOYALTY[persona],
        signed_up=np.floor(now - tenure * SECONDS_PER_DAY).astype(np.int64),
        owner=owner,
        ts=np.floor(now - ages * SECONDS_PER_DAY).astype(np.int64),
        kind=_SPEC_KIND[spec_persona, spec_slot],
        channel=_SPEC_CHANNEL[spec_persona, spec_slot],
        cents=cents.astype(np.int64),
    )


def generate_population(
    start: int, stop: int, seed: int, now: float, history_days: int = 120
) -> Population:
    """Customers ``c-<start>`` .. ``c-<stop - 1>``; a function of (seed, index, now) only."""
    if not 0 <= start < stop:
        raise ValueError("need 0 <= start < stop")
    first, last = start // BLOCK, (stop - 1) // BLOCK
    blocks = [_generate_block(b, seed, now, history_days) for b in range(first, last + 1)]
    whole = blocks[0] if len(blocks) == 1 else Population.concat(blocks)
    return whole.slice(start - first * BLOCK, stop - first * BLOCK)


@dataclass(frozen=True)
class DemoCustomer:
    customer_id: str
    persona: str
    attributes: dict[str, Any]
    signed_up_at: int
    activities: list[Activity]


def _attributes_of(pop: Population, i: int) -> dict[str, Any]:
    return {
        "country": COUNTRIES[pop.country[i]],
        "preferred_language": _LANGUAGE_VALUES[pop.language[i]],
        "tier": TIERS[pop.tier[i]],
        "age": int(pop.age[i]),
        "email_opt_in": bool(pop.email_opt_in[i]),
        "sms_opt_in": bool(pop.sms_opt_in[i]),
        "push_opt_in": bool(pop.push_opt_in[i]),
        "loyalty_member": bool(pop.loyalty_member[i]),
    }


def customers_of(pop: Population) -> list[DemoCustomer]:
    """The population as API-shaped values (for tests and one-off reads; slow in bulk)."""
    bounds = np.searchsorted(pop.owner, np.arange(len(pop) + 1))
    out = []
    for i in range(len(pop)):
        activities = []
        for row in range(bounds[i], bounds[i + 1]):
            kind = ACTIVITY_TYPES[pop.kind[row]]
            activities.append(
                Activity(
                    type=kind,
                    channel=CHANNELS[pop.channel[row]],
                    timestamp=datetime.fromtimestamp(int(pop.ts[row]), tz=UTC),
                    value=int(pop.cents[row]) / 100 if kind == "purchase" else None,
                )
            )
        out.append(
            DemoCustomer(
                f"c-{pop.start + i}",
                PERSONAS[pop.persona[i]].name,
                _attributes_of(pop, i),
                int(pop.signed_up[i]),
                activities,
            )
        )
    return out


def generate_customer(index: int, seed: int, now: float, history_days: int = 120) -> DemoCustomer:
    """One synthetic customer; a function of (index, seed, now) only."""
    return customers_of(generate_population(index, index + 1, seed, now, history_days))[0]


# --- The stored form, as RESP -------------------------------------------------------------

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


# Profile attributes: (population column, name token, value tokens), values encoded as
# ``engine.customers.service.upsert_attributes`` encodes them (JSON).
_ATTRIBUTES: tuple[tuple[str, bytes, Tokens], ...] = tuple(
    (column, _bulk(name), _tokens([_bulk(orjson.dumps(v)) for v in values]))
    for column, name, values in (
        ("country", "country", COUNTRIES),
        ("language", "preferred_language", _LANGUAGE_VALUES),
        ("tier", "tier", TIERS),
        ("age", "age", range(100)),
        ("email_opt_in", "email_opt_in", (False, True)),
        ("sms_opt_in", "sms_opt_in", (False, True)),
        ("push_opt_in", "push_opt_in", (False, True)),
        ("loyalty_member", "loyalty_member", (False, True)),
    )
)

# Day-bucket metrics of activities.lua: a channel code per channel, then visits, purchases,
# revenue (cents) and support contacts.
_METRICS = (*(keys.CHANNEL_CODES[c] for c in CHANNELS), "v", "p", "r", "s")
_M = len(_METRICS)
_VISITS, _PURCHASES, _REVENUE, _SUPPORT = (_METRICS.index(m) for m in "vprs")
_CHANNEL_VALUES = _tokens([_bulk(keys.CHANNEL_CODES[c]) for c in CHANNELS])
_DEL = _command_head("DEL", 5)
_HSET_ATTRIBUTES = _command_head("HSET", 2 + 2 * len(_ATTRIBUTES))
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


def _activity_fields(pop: Population, now: float) -> _Fields:
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


def encode_population(pop: Population, now: float, retention_seconds: int) -> tuple[bytes, int]:
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
    head = 5 + 2 + 2 * len(_ATTRIBUTES) + 2  # DEL, HSET profile, HSET activity head and key
    tail = 6 if retention_seconds > 0 else 0
    per_customer = head + fields + tail
    base = np.cumsum(per_customer) - per_customer
    tokens = np.zeros(int(per_customer.sum()), dtype=f"S{WIDTH}")
    tokens[base] = _DEL
    tokens[base + 1] = attributes_key
    tokens[base + 2] = activity_key
    tokens[base + 3] = _key_tokens(keys.customer_contacts, ids)
    tokens[base + 4] = _key_tokens(keys.customer_assignments, ids)
    tokens[base + 5] = _HSET_ATTRIBUTES
    tokens[base + 6] = attributes_key
    for i, (column, name, table) in enumerate(_ATTRIBUTES):
        tokens[base + 7 + 2 * i] = name
        tokens[base + 8 + 2 * i] = table[np.asarray(getattr(pop, column), dtype=np.int64)]
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
