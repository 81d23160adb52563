"""What a joined event becomes, step by step, without a store."""

from __future__ import annotations

import pytest

from engine.errors import CustomerErased, EventInProgress, NotFound, ValidationFailed
from engine.feedback.events import EventRequest
from engine.feedback.outcome import event_write, refuse_unrecordable
from engine.feedback.rewards import RewardEntry
from engine.store.records import EventJoin, EventJoinArgs

AT = 1_795_000_000.0
ARGS = EventJoinArgs("c-1", "tok", "e-1", "o-1", "c", 12.5, AT, AT, "k", 30, "nonce")


def joined(status: str, reward: float | None = None, policy: str = "linucb") -> EventJoin:
    return EventJoin(status, reward, "[0.5, 1.0]", "global", "2", AT - 60, policy, "web")


def conversion(event_id: str = "e-1") -> EventRequest:
    return EventRequest(
        event_id=event_id, decision_id="d-tok~c-1", offer_id="o-1", type="conversion", value=12.5
    )


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        ("unknown", NotFound),
        ("erased", CustomerErased),
        ("not_served", ValidationFailed),
        ("in_progress", EventInProgress),
    ],
)
def test_an_unrecordable_join_is_refused_on_its_field(status: str, refusal: type) -> None:
    with pytest.raises(refusal):
        refuse_unrecordable(conversion(), "events[0].", ARGS, joined(status))


def test_a_recordable_join_is_not_refused() -> None:
    for status in ("accepted", "late", "duplicate"):
        refuse_unrecordable(conversion(), "", ARGS, joined(status))


def test_a_rewarded_conversion_writes_its_reward_activity_and_log_entry() -> None:
    write = event_write(conversion(), ARGS, joined("accepted", reward=1.0), maxlen=1000)
    assert write.reward is not None
    entry = RewardEntry.parse("1-0", dict(write.reward))
    assert entry is not None
    assert (entry.decision_id, entry.offer_id, entry.reward, entry.x) == (
        "d-tok~c-1",
        "o-1",
        1.0,
        [0.5, 1.0],
    )
    assert write.activity is not None
    assert write.activity.cents == 1250
    assert write.entry["status"] == "accepted"
    assert write.conversion
    assert not write.impression
    assert write.cells is None  # no experiment assignment


def test_a_fallback_decision_teaches_the_learner_nothing() -> None:
    write = event_write(
        conversion(), ARGS, joined("accepted", reward=1.0, policy="fallback"), maxlen=1000
    )
    assert write.reward is None
