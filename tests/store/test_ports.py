"""The Redis adapter implements every port its callers name, at runtime here; mypy checks the
same statically (``_implements_every_port`` in :mod:`engine.store.redis`)."""

from __future__ import annotations

import inspect

import pytest

from engine.store import ports
from engine.store.redis import RedisStore

PORTS: list[type] = [
    ports.AdminPort,
    ports.ApiPort,
    ports.CatalogReader,
    ports.CatalogWriter,
    ports.CustomerPort,
    ports.DecisionPort,
    ports.EventPort,
    ports.KeyPort,
    ports.LearnerPort,
    ports.ModelPort,
    ports.OfflinePort,
    ports.SegmentPort,
    ports.SyntheticPort,
]


def test_every_port_is_listed() -> None:
    declared = {
        obj
        for name, obj in vars(ports).items()
        if name in ports.__all__ and inspect.isclass(obj) and name != "ModelTransactionPort"
    }
    assert declared == set(PORTS)


@pytest.mark.parametrize("port", PORTS, ids=lambda port: port.__name__)
async def test_the_adapter_implements_the_port(store: RedisStore, port: type) -> None:
    assert isinstance(store, port)
    for name, declared in inspect.getmembers(port, inspect.isfunction):
        if name.startswith("_"):
            continue
        implemented = getattr(type(store), name)
        want = list(inspect.signature(declared).parameters)
        got = list(inspect.signature(implemented).parameters)
        assert got == want, f"{port.__name__}.{name}: {got} != {want}"


def test_a_port_is_narrower_than_the_adapter() -> None:
    """Each caller's port names only part of the adapter: none is the whole of it."""
    everything = {name for name in dir(RedisStore) if not name.startswith("_")}
    for port in PORTS:
        if port in (ports.ApiPort, ports.SyntheticPort):
            continue
        names = {n for n, _ in inspect.getmembers(port, inspect.isfunction) if n[0] != "_"}
        assert names < everything, port.__name__
