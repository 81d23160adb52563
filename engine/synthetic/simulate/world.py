"""The drawn world: customers with their true rates, and decision requests drawn in advance so
every policy faces the same ones; deterministic in (scenario, seed, now)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from engine.domain.catalog import field_types
from engine.domain.channels import CHANNELS, Channel
from engine.domain.profiles import (
    SECONDS_PER_DAY,
    Activity,
)
from engine.domain.rules import Group, evaluate, parse_conditions
from engine.synthetic.simulate.scenario import ATTRIBUTE_TYPES, ScenarioConfig

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ContextValue = str | int | float | bool


def _daypart(hour: int) -> str:
    if hour < 6:
        return "night"
    if hour < 12:
        return "morning"
    if hour < 18:
        return "afternoon"
    return "evening"


@dataclass(frozen=True)
class SimulatedCustomer:
    customer_id: str
    persona: int
    attributes: dict[str, ContextValue]
    signed_up_at: float
    activities: list[Activity]


@dataclass(frozen=True)
class Population:
    """Customers and their channel-free rates ``base`` (customers, offers); NaN: not eligible."""

    scenario: ScenarioConfig
    seed: int
    now: float
    customers: list[SimulatedCustomer]
    base: FloatArray
    offer_ids: list[str]


@dataclass(frozen=True)
class Requests:
    """Decision requests drawn in advance, so every policy faces the same world.

    ``rates`` (requests, offers) is the true click rate of each offer for that request, NaN
    where the offer is not eligible; ``u`` decides the response: a click when ``u`` < rate.
    """

    customer: IntArray
    channel: list[Channel]
    context: list[dict[str, ContextValue]]
    u: FloatArray
    rates: FloatArray

    def __len__(self) -> int:
        return len(self.channel)


def _choice(rng: np.random.Generator, weights: Mapping[Any, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return str(names[int(rng.choice(len(names), p=p / p.sum()))])


def _lognormal_mean_one(rng: np.random.Generator, sigma: float, size: int) -> FloatArray:
    out: FloatArray = (
        rng.lognormal(-0.5 * sigma * sigma, sigma, size=size) if sigma else np.ones(size)
    )
    return out


def _generate_customer(
    scenario: ScenarioConfig, index: int, seed: int, now: float, cdf: FloatArray
) -> tuple[SimulatedCustomer, float, FloatArray]:
    """One customer, its responsiveness and per-offer affinities; a function of (seed, index)."""
    rng = np.random.default_rng([seed, 0, index])
    persona_index = min(int(np.searchsorted(cdf, rng.random(), side="right")), len(cdf) - 1)
    persona = scenario.personas[persona_index]
    tenure = float(rng.uniform(*persona.tenure_days))
    attributes: dict[str, ContextValue] = {
        "age": int(np.clip(rng.normal(*persona.age), 18, 90)),
        "tier": _choice(rng, persona.tiers),
        "lifecycle": _choice(rng, persona.lifecycle),
        "loyalty_member": bool(rng.random() < persona.loyalty_member),
        "email_opt_in": bool(rng.random() < persona.email_opt_in),
        "push_opt_in": bool(rng.random() < persona.push_opt_in),
        "favourite_category": _choice(rng, persona.categories),
    }
    signed_up_at = now - tenure * SECONDS_PER_DAY
    # the account's creation is its first recorded activity, so first-seen (tenure) is right
    # whichever way the customer is written (bulk or HTTP)
    activities = [Activity(type="login", channel="web", timestamp=_at(signed_up_at))]
    intensity = float(rng.gamma(4.0, 0.25))  # mean 1: customers of a persona differ
    horizon = min(tenure, float(scenario.history_days))
    for spec in persona.activities:
        newest, oldest = spec.days[0], min(spec.days[1], horizon)
        count = int(rng.poisson(spec.mean_count * intensity))
        if oldest <= newest or count == 0:
            continue
        ages = rng.uniform(newest, oldest, size=count)
        values = spec.order_value * rng.lognormal(-0.125, 0.5, size=count)
        for age, value in zip(ages.tolist(), values.tolist(), strict=True):
            activities.append(
                Activity(
                    type=spec.type,
                    channel=spec.channel,
                    timestamp=_at(now - age * SECONDS_PER_DAY),
                    value=max(1.0, round(value, 2)) if spec.type == "purchase" else None,
                )
            )
    responsiveness = float(_lognormal_mean_one(rng, scenario.responsiveness_sigma, 1)[0])
    affinity = _lognormal_mean_one(rng, scenario.affinity_sigma, len(scenario.offers))
    customer = SimulatedCustomer(
        f"sim-{index}", persona_index, attributes, signed_up_at, activities
    )
    return customer, responsiveness, affinity


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def build_population(scenario: ScenarioConfig, seed: int, now: float) -> Population:
    """Customers and their true channel-free rates; deterministic in (scenario, seed, now)."""
    shares = np.array([p.share for p in scenario.personas], dtype=float)
    cdf: FloatArray = np.cumsum(shares) / shares.sum()
    fields = field_types(ATTRIBUTE_TYPES)
    rules: list[Group] = [
        parse_conditions(o.rules, fields, f"offers.{o.offer_id}.rules") for o in scenario.offers
    ]
    customers = []
    base = np.full((scenario.customers, len(scenario.offers)), np.nan)
    for index in range(scenario.customers):
        customer, responsiveness, affinity = _generate_customer(scenario, index, seed, now, cdf)
        customers.append(customer)
        persona = scenario.personas[customer.persona].name
        for j, offer in enumerate(scenario.offers):
            if not evaluate(rules[j], customer.attributes):
                continue
            rate = offer.rates.get(persona, offer.default_rate) * responsiveness * affinity[j]
            for name, value in customer.attributes.items():
                rate *= offer.attribute_effect.get(f"{name}={_category(value)}", 1.0)
            base[index, j] = rate
    return Population(scenario, seed, now, customers, base, [o.offer_id for o in scenario.offers])


def _category(value: ContextValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def draw_requests(population: Population, n: int, seed: int) -> Requests:
    """``n`` requests: a random customer, a channel it can be reached on, a context."""
    scenario = population.scenario
    rng = np.random.default_rng([seed, 1])
    customer = rng.integers(0, len(population.customers), size=n).astype(np.int64)
    u = rng.random(n)
    hours = np.array(scenario.context.hour_weights, dtype=float)
    hour_draws = rng.choice(24, size=n, p=hours / hours.sum())
    channels: list[Channel] = []
    contexts: list[dict[str, ContextValue]] = []
    rates = np.full((n, len(scenario.offers)), np.nan)
    channel_effect = [
        np.array([cast(Mapping[str, float], o.channel_effect).get(ch, 1.0) for ch in CHANNELS])
        for o in scenario.offers
    ]
    channel_index = {ch: i for i, ch in enumerate(CHANNELS)}
    for i in range(n):
        c = population.customers[int(customer[i])]
        persona = scenario.personas[c.persona]
        reach = {
            ch: w
            for ch, w in persona.channels.items()
            if not (ch == "email" and not c.attributes["email_opt_in"])
            and not (ch == "push" and not c.attributes["push_opt_in"])
        }
        channel = cast(Channel, _choice(rng, reach))
        mix = scenario.context.channels[channel]
        hour = int(hour_draws[i])
        context: dict[str, ContextValue] = {
            "device": _choice(rng, mix.devices),
            "page": _choice(rng, mix.pages),
            "daypart": _daypart(hour),
            "hour": hour,
        }
        channels.append(channel)
        contexts.append(context)
        keys = [f"{k}={_category(v)}" for k, v in context.items()]
        for j, offer in enumerate(scenario.offers):
            base = population.base[int(customer[i]), j]
            if math.isnan(base) or channel not in offer.channels:
                continue
            rate = base * channel_effect[j][channel_index[channel]]
            for key in keys:
                rate *= offer.context_effect.get(key, 1.0)
            rates[i, j] = min(max(rate, scenario.min_rate), scenario.max_rate)
    return Requests(customer, channels, contexts, u, rates)


def random_rates(rates: FloatArray) -> FloatArray:
    """Expected reward of a uniform choice among eligible offers; 0 when none is eligible."""
    eligible = ~np.isnan(rates)
    count = eligible.sum(axis=1)
    total = np.where(eligible, rates, 0.0).sum(axis=1)
    out: FloatArray = np.divide(total, count, out=np.zeros(len(rates)), where=count > 0)
    return out


def oracle_rates(rates: FloatArray) -> FloatArray:
    out: FloatArray = np.where(np.isnan(rates), -np.inf, rates).max(axis=1, initial=0.0)
    return out


def served_rates(rates: FloatArray, served: IntArray) -> FloatArray:
    picked = rates[np.arange(len(served)), np.maximum(served, 0)]
    out: FloatArray = np.where(served >= 0, np.nan_to_num(picked), 0.0)
    return out
