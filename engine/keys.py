"""Every store key is built here, so the layout is documented and changed in one place.

Keys of one customer share the hash tag ``{c:<id>}``: Redis Cluster puts them in one slot,
so the pipelined read and the Lua scripts that touch several of them stay legal there.
Catalog-wide keys share ``{nbo:cfg}`` for the same reason.
"""

from __future__ import annotations

__all__ = [
    "API_KEYS",
    "BUDGET",
    "CHANNEL_CODES",
    "CONFIG_VERSION",
    "DECISION_LOG",
    "DEMO_MARKER",
    "EVENT_LOG",
    "EXPERIMENTS",
    "FEATURE_SPEC",
    "MODEL_SCOPES",
    "OFFERS",
    "OFFER_VERSIONS",
    "OUTCOME_LOG",
    "SCHEMA",
    "SEGMENTS",
    "SEGMENT_MODELS",
    "customer_activity",
    "customer_assignments",
    "customer_attributes",
    "customer_contacts",
    "customer_decision",
    "customer_keys",
    "customer_pattern",
    "customer_request",
    "decision_id",
    "experiment_cells",
    "model_key",
    "split_decision_id",
]

CONFIG_TAG = "{nbo:cfg}"
OFFERS = f"{CONFIG_TAG}:offers"
OFFER_VERSIONS = f"{CONFIG_TAG}:offer_versions"
SEGMENTS = f"{CONFIG_TAG}:segments"
SEGMENT_MODELS = f"{CONFIG_TAG}:segment_models"
SCHEMA = f"{CONFIG_TAG}:attributes"
CONFIG_VERSION = f"{CONFIG_TAG}:version"
FEATURE_SPEC = f"{CONFIG_TAG}:feature_spec"
EXPERIMENTS = f"{CONFIG_TAG}:experiments"
DEMO_MARKER = f"{CONFIG_TAG}:demo"
BUDGET = "{nbo:budget}:spent"
DECISION_LOG = "{nbo:log}:decisions"
EVENT_LOG = "{nbo:log}:events"
OUTCOME_LOG = "{nbo:log}:outcomes"
MODEL_SCOPES = "{nbo:models}:scopes"
LEARNERS = "{nbo:models}:learners"  # learner name -> its last heartbeat (JSON)
API_KEYS = "{nbo:keys}:by_hash"

# One letter per channel keeps per-customer hash fields short (memory per customer matters).
CHANNEL_CODES: dict[str, str] = {
    "web": "w",
    "mobile_app": "m",
    "email": "e",
    "push": "p",
    "sms": "s",
    "call_center": "c",
    "in_store": "i",
    "social": "o",
}


def customer_attributes(customer_id: str) -> str:
    return f"{{c:{customer_id}}}:a"


def customer_activity(customer_id: str) -> str:
    return f"{{c:{customer_id}}}:f"


def customer_contacts(customer_id: str) -> str:
    return f"{{c:{customer_id}}}:h"


def customer_keys(customer_id: str) -> list[str]:
    """All keys that hold data about one customer (erasure deletes exactly these)."""
    return [
        customer_attributes(customer_id),
        customer_activity(customer_id),
        customer_contacts(customer_id),
    ]


def customer_data_keys(customer_id: str) -> list[str]:
    """The fixed keys of a customer (profile, activity, contacts, assignments)."""
    return [*customer_keys(customer_id), customer_assignments(customer_id)]


def customer_decision(customer_id: str, token: str) -> str:
    """A decision's record (served offers, propensities, x, rewards); lives in the customer slot."""
    return f"{{c:{customer_id}}}:d:{token}"


def customer_request(customer_id: str, request_id: str) -> str:
    """The response of a request_id, replayed on retries."""
    return f"{{c:{customer_id}}}:q:{request_id}"


def customer_pattern(customer_id: str) -> str:
    """Every key of one customer (SCAN MATCH); ids never hold glob characters."""
    return f"{{c:{customer_id}}}:*"


def model_key(scope: str, part: str) -> str:
    """Keys of one model scope share ``{m:<scope>}``: stream, state and snapshot stay in one slot,
    so the learner commits state, snapshot and stream acknowledgements in one transaction."""
    return f"{{m:{scope}}}:{part}"


def customer_assignments(customer_id: str) -> str:
    """Experiment assignments of one customer, with the segments at first exposure."""
    return f"{{c:{customer_id}}}:x"


def experiment_cells(experiment_id: str) -> str:
    """Sufficient statistics of one experiment (see engine.aggregation)."""
    return f"{{e:{experiment_id}}}:cells"


def decision_id(customer_id: str, token: str) -> str:
    """``d-<token>~<customer id>``: the id carries its customer, so an event finds the slot."""
    return f"d-{token}~{customer_id}"


def split_decision_id(value: str) -> tuple[str, str] | None:
    """(customer id, token) of a decision id, or None if it is not one."""
    if not value.startswith("d-") or "~" not in value:
        return None
    token, _, customer_id = value[2:].partition("~")
    if not token or not customer_id:
        return None
    return customer_id, token
