"""The drawn world: customers with their true rates, and decision requests drawn in advance so
every policy faces the same ones; deterministic in (scenario, seed, now)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from engine.domain.catalog import field_types
from engine.domain.channels import Channel
from engine.domain.profiles import Activity
from engine.domain.rules import Group, evaluate, parse_conditions
from engine.synthetic.personas import ContextValue, offer_rate, request_rate
from engine.synthetic.population import (
    ATTRIBUTE_TYPES,
    Customer,
    customers_of,
    generate_population,
)
from engine.synthetic.simulate.scenario import DAYPARTS, ScenarioConfig

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# the request channels that need the customer's opt-in
_OPT_IN = {"email": "email_opt_in", "push": "push_opt_in", "sms": "sms_opt_in"}


def _daypart(hour: int) -> str:
    return DAYPARTS[hour // 6]


@dataclass(frozen=True)
class Population:
    """Customers, each one's persona (its index in the scenario's), and their channel-free
    true rates ``base`` (customers, offers); NaN: not eligible."""

    scenario: ScenarioConfig
    seed: int
    now: float
    customers: list[Customer]
    persona: IntArray
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


def _taste(scenario: ScenarioConfig, index: int, seed: int) -> FloatArray:
    """Customer ``index``'s own taste per offer around its persona's truth (mean one), which
    the model cannot see: an overall responsiveness times a taste for each offer."""
    rng = np.random.default_rng([seed, 0, index])
    responsiveness = _lognormal_mean_one(rng, scenario.responsiveness_sigma, 1)[0]
    out: FloatArray = responsiveness * _lognormal_mean_one(
        rng, scenario.affinity_sigma, len(scenario.offers)
    )
    return out


def _signed_up(customer: Customer) -> Customer:
    """The customer with its account's creation as its first recorded activity, so first-seen
    (tenure) is right whichever way the customer is written (bulk or HTTP)."""
    at = datetime.fromtimestamp(customer.signed_up_at, tz=UTC)
    login = Activity(type="login", channel="web", timestamp=at)
    return replace(customer, activities=[login, *customer.activities])


def build_population(scenario: ScenarioConfig, seed: int, now: float) -> Population:
    """Customers and their true channel-free rates; deterministic in (scenario, seed, now).

    Customers are the demo population's generator drawing from the scenario's personas: with
    the default scenario, customer ``c-i`` of seed ``s`` is the demo's ``c-i`` of seed ``s``.
    """
    columns = generate_population(
        0, scenario.customers, seed, now, scenario.history_days, scenario.personas
    )
    customers = [_signed_up(c) for c in customers_of(columns, scenario.personas)]
    fields = field_types(ATTRIBUTE_TYPES)
    rules: list[Group] = [
        parse_conditions(o.rules, fields, f"offers.{o.offer_id}.rules") for o in scenario.offers
    ]
    base = np.full((scenario.customers, len(scenario.offers)), np.nan)
    for index, customer in enumerate(customers):
        persona = scenario.personas[int(columns.persona[index])]
        taste = _taste(scenario, index, seed)
        for j, offer in enumerate(scenario.offers):
            if evaluate(rules[j], customer.attributes):
                base[index, j] = offer_rate(persona, offer, customer.attributes) * taste[j]
    return Population(
        scenario,
        seed,
        now,
        customers,
        columns.persona.astype(np.int64),
        base,
        [o.offer_id for o in scenario.offers],
    )


def draw_requests(population: Population, n: int, seed: int) -> Requests:
    """``n`` requests: a random customer, a channel it can be reached on, a context."""
    scenario = population.scenario
    bounds = (scenario.min_rate, scenario.max_rate)
    rng = np.random.default_rng([seed, 1])
    customer = rng.integers(0, len(population.customers), size=n).astype(np.int64)
    u = rng.random(n)
    hours = np.array(scenario.context.hour_weights, dtype=float)
    hour_draws = rng.choice(24, size=n, p=hours / hours.sum())
    channels: list[Channel] = []
    contexts: list[dict[str, ContextValue]] = []
    rates = np.full((n, len(scenario.offers)), np.nan)
    for i in range(n):
        k = int(customer[i])
        c = population.customers[k]
        persona = scenario.personas[int(population.persona[k])]
        reach = {
            ch: w
            for ch, w in persona.reach.items()
            if ch not in _OPT_IN or c.attributes[_OPT_IN[ch]]
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
        for j, offer in enumerate(scenario.offers):
            base = population.base[k, j]
            if not math.isnan(base) and channel in offer.channels:
                rates[i, j] = request_rate(base, persona, offer, channel, context, bounds)
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
