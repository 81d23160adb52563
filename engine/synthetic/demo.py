"""A realistic demo: catalog, rule segments and synthetic customers, loaded in seconds.

The demo exists so that a fresh install shows something worth looking at: every segment has
members, every channel has offers, eligibility has reasons to explain, and learned segmentation
finds structure. Customers therefore come from distinct personas (app-first, store-first,
web shoppers, high spenders, lapsing, support-heavy, dormant, new, casual) rather than from one
distribution.

Offers and segments are validated as ``PUT /v1/offers`` and ``PUT /v1/segments`` would validate
them. Customers come from :mod:`engine.synthetic.population` as columns, and the store's bulk
loader (:mod:`engine.store.bulk`) writes exactly what the engine's own scripts would store, so
a million of them load in well under two minutes on two cores (``bench/scale.py`` measures
it). Generation is deterministic in (seed, customer index, now): customer ``c-42`` looks the
same whatever the population size. Load tests need a bigger catalog than the hand-written one,
so ``offers`` adds generated offers that look and behave like real ones (creatives, values,
targeting, caps).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.config import Settings
from engine.domain.catalog import (
    field_types,
    validate_offer,
)
from engine.domain.rules import parse_rule
from engine.domain.vectoriser import FeatureSpec, validate_spec
from engine.errors import ValidationFailed
from engine.store.bulk import BulkWriter, encode_customers
from engine.store.ports import SyntheticPort
from engine.store.redis import RedisStore
from engine.synthetic.demo_experiment import run_demo_experiment
from engine.synthetic.demo_offers import GENERATED_PREFIX, HANDWRITTEN_ACTIVE_OFFERS, demo_catalog
from engine.synthetic.demo_segments import demo_segments
from engine.synthetic.population import (
    ATTRIBUTE_TYPES,
    BLOCK,
    generate_population,
    stored_columns,
)

__all__ = ["ATTRIBUTE_TYPES", "DemoConfig", "DemoSummary", "load_demo"]


@dataclass(frozen=True)
class DemoConfig:
    customers: int = 10_000
    seed: int = 7
    chunk: int = 8 * BLOCK  # customers per pipelined write (a multiple of the random block)
    history_days: int = 120  # longer than the 90-day window, so dormancy and lifetimes show
    experiment_decisions: int = 15_000  # demo experiment traffic (capped at 2 x customers)
    offers: int = HANDWRITTEN_ACTIVE_OFFERS  # active offers; beyond the hand-written, generated

    def __post_init__(self) -> None:
        if self.customers < 0 or self.chunk < 1 or self.history_days < 1:
            raise ValueError("customers must be >= 0, chunk and history_days >= 1")
        if self.offers < HANDWRITTEN_ACTIVE_OFFERS:
            raise ValueError(f"offers must be >= {HANDWRITTEN_ACTIVE_OFFERS} (the hand-written)")


@dataclass(frozen=True)
class DemoSummary:
    offers: int
    segments: int
    customers: int
    seconds: float
    skipped: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # seconds: catalog, customers, ...


async def _attribute_types(store: SyntheticPort) -> dict[str, str]:
    """Register the demo attributes; refuse if the store already types one differently."""
    in_force = await store.register_attribute_types(ATTRIBUTE_TYPES)
    for name, kind in ATTRIBUTE_TYPES.items():
        if in_force.get(name) != kind:
            raise ValidationFailed(
                f"attribute '{name}' already holds {in_force.get(name)} values; "
                f"the demo writes {kind}",
                field=f"attributes.{name}",
            )
    return (await store.read_catalog()).attribute_types


async def _load_catalog(store: SyntheticPort, config: DemoConfig, now: float) -> tuple[int, int]:
    fields = field_types(await _attribute_types(store))
    segments = demo_segments()
    for segment_id, segment in segments.items():
        parse_rule(segment.rule, fields, path=f"segments.{segment_id}.rule")
        await store.put_segment(segment_id, segment.model_dump_json(exclude_none=True).encode())
    catalog = await store.read_catalog()
    segment_ids = set(catalog.segments)
    offers = demo_catalog(config.offers, config.seed, now)
    for offer_id, offer in offers.items():
        validate_offer(offer, segment_ids, fields)
        await store.put_offer(offer_id, offer.model_dump_json().encode())
    for offer_id in catalog.offers:  # a reload with fewer generated offers drops the rest
        if offer_id.startswith(GENERATED_PREFIX) and offer_id not in offers:
            await store.delete_offer(offer_id)
    # the model sees segment memberships too: 32 features with the default spec
    current = (await store.read_catalog()).feature_spec
    version = FeatureSpec.model_validate_json(current).version + 1 if current else 1
    spec = FeatureSpec(version=version, segments=sorted(segments))
    validate_spec(spec, ATTRIBUTE_TYPES, segment_ids)
    await store.put_feature_spec(spec.model_dump_json().encode())
    return len(offers), len(segments)


def _prepare(
    config: DemoConfig, now: float, retention_seconds: int, start: int, stop: int
) -> tuple[bytes, int]:
    population = generate_population(start, stop, config.seed, now, config.history_days)
    return encode_customers(stored_columns(population), now, retention_seconds)


def _write_customers(
    settings: Settings,
    url: str,
    config: DemoConfig,
    now: float,
    progress: Progress,
    stop: threading.Event,
) -> None:
    """Generate chunk k + 1 while the store works through chunk k (two cores: one each).

    The store is the bottleneck (its one thread parses and applies every command); generation
    and encoding take about a fifth as long and hide behind it. At most two chunks wait
    encoded, which bounds memory. ``stop`` ends both threads early (failure or Ctrl-C).
    """
    task = progress.add_task("customers", total=config.customers)
    retention = settings.customer_retention_days * 86_400
    chunks: queue.Queue[tuple[bytes, int, int] | BaseException | None] = queue.Queue(maxsize=2)

    def hand_over(item: tuple[bytes, int, int] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for start in range(0, config.customers, config.chunk):
                end = min(start + config.chunk, config.customers)
                payload, replies = _prepare(config, now, retention, start, end)
                if not hand_over((payload, replies, end)):
                    return
            hand_over(None)
        except BaseException as exc:  # handed to the writer, which raises it
            hand_over(exc)

    def take() -> tuple[bytes, int, int] | BaseException | None:
        while not stop.is_set():
            try:
                return chunks.get(timeout=0.1)
            except queue.Empty:
                continue
        raise InterruptedError("demo load stopped")

    producer = threading.Thread(target=produce, name="nbo-demo-generate", daemon=True)
    writer = BulkWriter.connect(url, settings.redis_connect_timeout_ms / 1000)
    producer.start()
    try:
        while (item := take()) is not None:
            if isinstance(item, BaseException):
                raise item
            payload, replies, end = item

            def advance(end: int = end) -> None:
                progress.update(task, completed=end)

            writer.send(payload, replies, advance)
        writer.wait()
    finally:
        stop.set()
        producer.join()
        writer.close()


async def _load_customers(
    settings: Settings, url: str, config: DemoConfig, now: float, console: Console
) -> None:
    columns = (
        TextColumn("[bold]demo customers"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    stop = threading.Event()
    with Progress(*columns, console=console) as progress:
        try:
            await asyncio.to_thread(_write_customers, settings, url, config, now, progress, stop)
        except asyncio.CancelledError:  # the thread would otherwise load everything first
            stop.set()
            raise


async def load_demo(
    settings: Settings,
    url: str,
    config: DemoConfig,
    console: Console,
    only_if_absent: bool = False,
    now: float | None = None,
) -> DemoSummary:
    """Load the demo; with ``only_if_absent``, do nothing when a demo was loaded before.

    The marker is set before loading, so two processes started together load it once; a load
    that fails half way is then not retried by ``serve --demo`` (run ``nbo demo`` to reload).
    """
    started = time.perf_counter()
    at = time.time() if now is None else now
    store = RedisStore.from_settings(settings, url)
    try:
        marker = (
            f"seed={config.seed} customers={config.customers} offers={config.offers} at={int(at)}"
        )
        first = await store.mark_demo(marker)
        if only_if_absent and not first:
            console.print("[dim]demo data already loaded; skipping[/dim]")
            return DemoSummary(0, 0, 0, time.perf_counter() - started, skipped=True)
        phases: dict[str, float] = {}
        mark = time.perf_counter()
        offers, segments = await _load_catalog(store, config, at)
        phases["catalog"] = time.perf_counter() - mark
        mark = time.perf_counter()
        await _load_customers(settings, url, config, at, console)
        phases["customers"] = time.perf_counter() - mark
        mark = time.perf_counter()
        await run_demo_experiment(
            store,
            settings,
            config.customers,
            min(config.experiment_decisions, 2 * config.customers),
            config.seed,
            console,
        )
        phases["experiment"] = time.perf_counter() - mark
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    console.print(
        f"demo loaded: {offers} offers, {segments} segments, "
        f"{config.customers} customers in {seconds:.1f}s "
        f"(customers {phases['customers']:.1f}s, experiment {phases['experiment']:.1f}s)"
    )
    return DemoSummary(offers, segments, config.customers, seconds, phases=phases)
