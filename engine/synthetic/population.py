"""Demo customers: generated as columns, a block of customers at a time.

A million demo customers must load in under two minutes on a two-core machine, so the
population is drawn with numpy a block of customers at a time, each block from its own random
stream (customer ``c-42`` is the same whatever the population size), and handed to the store's
bulk loader (:mod:`engine.store.bulk`) as columns, never as a Python object per activity.

The population mixes personas (app-first, store-first, web shoppers, high spenders, lapsing,
support-heavy, dormant, new, casual; :mod:`engine.synthetic.personas`) rather than one
distribution, so every segment has members and learned segmentation finds structure. The
simulator draws its customers here too, from its scenario's personas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.domain.channels import CHANNELS
from engine.domain.profiles import (
    ACTIVITY_TYPES,
    SECONDS_PER_DAY,
    Activity,
)
from engine.store.bulk import AttributeValues, CustomerColumns
from engine.synthetic.personas import PERSONAS, Persona

__all__ = [
    "ATTRIBUTE_TYPES",
    "BLOCK",
    "PERSONAS",
    "Customer",
    "Population",
    "customers_of",
    "generate_customer",
    "generate_population",
    "persona_indices",
    "stored_columns",
]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Tokens = npt.NDArray[np.bytes_]

# Customers per random stream. Changing it changes every generated customer.
BLOCK = 1024

COUNTRIES = ("DE", "FR", "ES", "IT", "NL", "GB")
_COUNTRY_CDF = np.cumsum((0.3, 0.2, 0.15, 0.12, 0.08, 0.15))
LANGUAGES = {"DE": "de", "FR": "fr", "ES": "es", "IT": "it", "NL": "nl", "GB": "en"}
_LANGUAGE_VALUES = ("de", "fr", "es", "it", "nl", "en")
_COUNTRY_LANGUAGE = np.array([_LANGUAGE_VALUES.index(LANGUAGES[c]) for c in COUNTRIES])
TIERS = ("bronze", "silver", "gold", "platinum")

# The attributes every generated customer has, as the store types them.
ATTRIBUTE_TYPES: dict[str, str] = {
    "country": "string",
    "preferred_language": "string",
    "tier": "string",
    "age": "number",
    "email_opt_in": "boolean",
    "sms_opt_in": "boolean",
    "push_opt_in": "boolean",
    "loyalty_member": "boolean",
}


@dataclass(frozen=True)
class _Tables:
    """Personas as columns (one row per persona), and their activity specs as persona x slot
    tables (padded with zero-mean slots), so a block is drawn without a loop over customers."""

    count: int
    cdf: Floats
    window_old: Floats
    window_new: Floats
    tenure_lo: Floats
    tenure_hi: Floats
    silent: Floats
    age_mean: Floats
    age_sd: Floats
    tier_cdf: Floats
    loyalty: Floats
    push: Floats
    slots: int
    spec_mean: Floats
    spec_value: Floats
    spec_recent: Bools
    spec_kind: Ints
    spec_channel: Ints

    @classmethod
    def of(cls, personas: Sequence[Persona]) -> _Tables:
        count = len(personas)
        slots = max(len(p.specs) + len(p.recent) for p in personas)
        spec: dict[str, Any] = {  # the tables by field name, filled slot by slot
            "spec_mean": np.zeros((count, slots)),
            "spec_value": np.zeros((count, slots)),
            "spec_recent": np.zeros((count, slots), dtype=bool),
            "spec_kind": np.zeros((count, slots), dtype=np.int64),
            "spec_channel": np.zeros((count, slots), dtype=np.int64),
        }
        for p, persona in enumerate(personas):
            for s, (kind, channel, mean, value) in enumerate(persona.specs + persona.recent):
                spec["spec_mean"][p, s], spec["spec_value"][p, s] = mean, value
                spec["spec_recent"][p, s] = s >= len(persona.specs)
                spec["spec_kind"][p, s] = ACTIVITY_TYPES.index(kind)
                spec["spec_channel"][p, s] = CHANNELS.index(channel)
        columns: dict[str, Any] = {
            name: np.asarray([field(p) for p in personas], dtype=np.float64)
            for name, field in _PERSONA_COLUMNS.items()
        }
        return cls(
            count=count,
            cdf=np.cumsum([p.share for p in personas]) / sum(p.share for p in personas),
            tier_cdf=np.cumsum([p.tiers for p in personas], axis=1),
            slots=slots,
            **columns,
            **spec,
        )


# The persona's numbers a block's draws read per customer, as columns of :class:`_Tables`.
_PERSONA_COLUMNS: dict[str, Callable[[Persona], float]] = {
    "window_old": lambda p: p.window[0],
    "window_new": lambda p: p.window[1],
    "tenure_lo": lambda p: p.tenure_days[0],
    "tenure_hi": lambda p: p.tenure_days[1],
    "silent": lambda p: p.silent_share,
    "age_mean": lambda p: p.age[0],
    "age_sd": lambda p: p.age[1],
    "loyalty": lambda p: p.loyalty,
    "push": lambda p: p.push_opt_in,
}


_DEMO_TABLES = _Tables.of(PERSONAS)


def _tables(personas: Sequence[Persona]) -> _Tables:
    return _DEMO_TABLES if personas is PERSONAS else _Tables.of(personas)


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


def _block_draws(block: int, seed: int) -> tuple[np.random.Generator, Floats]:
    """A block's random stream and its first draw, ten uniforms per customer (the first picks
    the persona), so a customer's persona is known without drawing its history."""
    rng = np.random.default_rng([seed, block])
    return rng, rng.random((BLOCK, 10))


def _persona_of(u: Floats, t: _Tables) -> Ints:
    persona: Ints = np.minimum(np.searchsorted(t.cdf, u[:, 0], side="right"), t.count - 1)
    return persona


def _generate_block(block: int, seed: int, now: float, history_days: int, t: _Tables) -> Population:
    """Customers ``c-<block * BLOCK>`` .. from one random stream, every draw vectorised."""
    rng, u = _block_draws(block, seed)
    n = BLOCK
    persona = _persona_of(u, t)
    country = np.minimum(np.searchsorted(_COUNTRY_CDF, u[:, 1], side="right"), len(COUNTRIES) - 1)
    language = np.where(u[:, 2] < 0.9, _COUNTRY_LANGUAGE[country], _LANGUAGE_VALUES.index("en"))
    tier = np.minimum((t.tier_cdf[persona] <= u[:, 3:4]).sum(axis=1), len(TIERS) - 1)
    active = u[:, 8] >= t.silent[persona]
    tenure = t.tenure_lo[persona] + (t.tenure_hi - t.tenure_lo)[persona] * u[:, 9]
    age = np.clip(rng.normal(t.age_mean[persona], t.age_sd[persona]), 18, 90).astype(np.int64)
    intensity = rng.gamma(4.0, 0.25, size=n) * active  # mean 1: customers of a persona differ
    counts = rng.poisson(t.spec_mean[persona] * intensity[:, None]).ravel()
    # Activity happens in [newest, oldest] days before now; "recent" specs in the last 30.
    oldest = np.minimum(np.minimum(t.window_old[persona], float(history_days)), tenure)
    newest = np.minimum(t.window_new[persona], oldest)
    recent = t.spec_recent[persona]
    low = np.where(recent, 0.0, newest[:, None]).ravel()
    high = np.where(recent, np.minimum(30.0, tenure)[:, None], oldest[:, None]).ravel()
    slot = np.repeat(np.arange(n * t.slots), counts)
    owner = slot // t.slots
    ages = np.minimum(low[slot] + (high - low)[slot] * rng.random(len(slot)), high[slot])
    spec_persona, spec_slot = persona[owner], slot % t.slots
    mean_value = t.spec_value[spec_persona, spec_slot]
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
        push_opt_in=u[:, 6] < t.push[persona],
        loyalty_member=u[:, 7] < t.loyalty[persona],
        signed_up=np.floor(now - tenure * SECONDS_PER_DAY).astype(np.int64),
        owner=owner,
        ts=np.floor(now - ages * SECONDS_PER_DAY).astype(np.int64),
        kind=t.spec_kind[spec_persona, spec_slot],
        channel=t.spec_channel[spec_persona, spec_slot],
        cents=cents.astype(np.int64),
    )


def _blocks(start: int, stop: int) -> range:
    if not 0 <= start < stop:
        raise ValueError("need 0 <= start < stop")
    return range(start // BLOCK, (stop - 1) // BLOCK + 1)


def generate_population(
    start: int,
    stop: int,
    seed: int,
    now: float,
    history_days: int = 120,
    personas: Sequence[Persona] = PERSONAS,
) -> Population:
    """Customers ``c-<start>`` .. ``c-<stop - 1>``; a function of (seed, index, now) only."""
    tables = _tables(personas)
    blocks = [_generate_block(b, seed, now, history_days, tables) for b in _blocks(start, stop)]
    whole = blocks[0] if len(blocks) == 1 else Population.concat(blocks)
    first = whole.start
    return whole.slice(start - first, stop - first)


def persona_indices(
    start: int, stop: int, seed: int, personas: Sequence[Persona] = PERSONAS
) -> Ints:
    """The persona (its index in ``personas``) of customers ``c-<start>`` .. ``c-<stop - 1>``,
    as :func:`generate_population` draws it, without drawing their histories."""
    tables = _tables(personas)
    blocks = _blocks(start, stop)
    column = np.concatenate([_persona_of(_block_draws(b, seed)[1], tables) for b in blocks])
    offset = blocks[0] * BLOCK
    out: Ints = column[start - offset : stop - offset]
    return out


@dataclass(frozen=True)
class Customer:
    """A generated customer as the API shapes it (the simulator writes customers this way)."""

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


def customers_of(pop: Population, personas: Sequence[Persona] = PERSONAS) -> list[Customer]:
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
            Customer(
                f"c-{pop.start + i}",
                personas[pop.persona[i]].name,
                _attributes_of(pop, i),
                int(pop.signed_up[i]),
                activities,
            )
        )
    return out


def generate_customer(index: int, seed: int, now: float, history_days: int = 120) -> Customer:
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
