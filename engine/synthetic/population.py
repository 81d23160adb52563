"""Demo customers: generated as columns, a block of customers at a time.

A million demo customers must load in under two minutes on a two-core machine, so the
population is drawn with numpy a block of customers at a time, each block from its own random
stream (customer ``c-42`` is the same whatever the population size), and handed to the store's
bulk loader (:mod:`engine.store.bulk`) as columns, never as a Python object per activity.

The population mixes personas (app-first, store-first, web shoppers, high spenders, lapsing,
support-heavy, dormant, new, casual) rather than one distribution, so every segment has members
and learned segmentation finds structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.domain.channels import CHANNELS, Channel
from engine.domain.profiles import (
    ACTIVITY_TYPES,
    SECONDS_PER_DAY,
    Activity,
    ActivityType,
)
from engine.store.bulk import AttributeValues, CustomerColumns
from engine.synthetic.tables import table

__all__ = [
    "BLOCK",
    "PERSONAS",
    "DemoCustomer",
    "Population",
    "customers_of",
    "generate_customer",
    "generate_population",
    "stored_columns",
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
    window: tuple[float, float]  # active from .. to, in days before now (within tenure)
    specs: tuple[Spec, ...]
    recent: tuple[Spec, ...] = ()  # extra activity in the last 30 days
    tenure_days: tuple[float, float] = (120, 1500)
    silent_share: float = 0.0  # of this persona, how many never did anything recorded
    age: tuple[float, float] = (42, 13)
    tiers: tuple[float, float, float, float] = (0.55, 0.30, 0.12, 0.03)
    loyalty: float = 0.35
    push_opt_in: float = 0.35


def _frozen(value: Any) -> Any:
    """JSON arrays as the tuples a persona holds (personas are immutable and hashable)."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


# The personas are data (``data/personas.json``); a field a row leaves out keeps its default.
PERSONAS: tuple[Persona, ...] = tuple(
    Persona(**{field: _frozen(value) for field, value in row.items()}) for row in table("personas")
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


# Profile attributes as the store's bulk loader writes them: (population column, its values).
_STORED_ATTRIBUTES: tuple[tuple[str, AttributeValues], ...] = tuple(
    (column, AttributeValues(name, values))
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


def stored_columns(pop: Population) -> CustomerColumns:
    """The population in the form the store's bulk loader writes (no copy of the activities)."""
    return CustomerColumns(
        start=pop.start,
        attributes=tuple(
            (values, np.asarray(getattr(pop, column), dtype=np.int64))
            for column, values in _STORED_ATTRIBUTES
        ),
        signed_up=pop.signed_up,
        owner=pop.owner,
        **{column: getattr(pop, column) for column in _ACTIVITY_COLUMNS},
    )
