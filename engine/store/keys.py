"""Every store key is built here, so the layout is documented and changed in one place.

Keys of one customer share the hash tag ``{c:<id>}``: Redis Cluster puts them in one slot,
so the pipelined read and the Lua scripts that touch several of them stay legal there.
Catalog-wide keys share ``{nbo:cfg}`` for the same reason.
"""

from __future__ import annotations

from engine.domain.channels import CHANNEL_CODES

__all__ = [
    "API_KEYS",
    "ATTRIBUTE_DECLARATIONS",
    "BUDGET",
    "CHANNEL_CODES",
    "CONFIG_VERSION",
    "DECISION_LOG",
    "DEMO_MARKER",
    "EVENT_LOG",
    "EXPERIMENTS",
    "EXPERIMENTS_RETIRED",
    "EXPERIMENT_VERSIONS",
    "FEATURE_SPEC",
    "MODEL_SCOPES",
    "OFFERS",
    "OFFER_VERSIONS",
    "OUTCOME_LOG",
    "SCHEMA",
    "SEGMENTS",
    "SEGMENT_MODELS",
    "SEGMENT_VERSIONS",
    "customer_activity",
    "customer_activity_ids",
    "customer_assignments",
    "customer_attributes",
    "customer_contacts",
    "customer_data_keys",
    "customer_decision",
    "customer_keys",
    "customer_named_index",
    "customer_of_decision",
    "customer_pattern",
    "customer_refs",
    "customer_request",
    "customer_slot_keys",
    "customer_tombstone",
    "decision_id",
    "experiment_cells",
    "guard_keys",
    "member_floor",
    "member_ref",
    "model_key",
    "parse_ref",
    "split_decision_id",
    "stream_floor",
    "stream_ref",
]

CONFIG_TAG = "{nbo:cfg}"
OFFERS = f"{CONFIG_TAG}:offers"
OFFER_VERSIONS = f"{CONFIG_TAG}:offer_versions"
SEGMENTS = f"{CONFIG_TAG}:segments"
SEGMENT_MODELS = f"{CONFIG_TAG}:segment_models"
SEGMENT_VERSIONS = f"{CONFIG_TAG}:segment_versions"
SCHEMA = f"{CONFIG_TAG}:attributes"
ATTRIBUTE_DECLARATIONS = f"{CONFIG_TAG}:attribute_declarations"
CONFIG_VERSION = f"{CONFIG_TAG}:version"
FEATURE_SPEC = f"{CONFIG_TAG}:feature_spec"
EXPERIMENTS = f"{CONFIG_TAG}:experiments"
EXPERIMENT_VERSIONS = f"{CONFIG_TAG}:experiment_versions"
# ids of deleted experiments that ran: customers' assignment records still name them
EXPERIMENTS_RETIRED = f"{CONFIG_TAG}:experiments_retired"
DEMO_MARKER = f"{CONFIG_TAG}:demo"
BUDGET = "{nbo:budget}:spent"
DECISION_LOG = "{nbo:log}:decisions"
EVENT_LOG = "{nbo:log}:events"
OUTCOME_LOG = "{nbo:log}:outcomes"
MODEL_SCOPES = "{nbo:models}:scopes"
LEARNERS = "{nbo:models}:learners"  # learner name -> its last heartbeat (JSON)
API_KEYS = "{nbo:keys}:by_hash"


def customer_attributes(customer_id: str) -> str:
    return f"{{c:{customer_id}}}:a"


def customer_activity(customer_id: str) -> str:
    return f"{{c:{customer_id}}}:f"


def customer_contacts(customer_id: str) -> str:
    return f"{{c:{customer_id}}}:h"


def customer_activity_ids(customer_id: str) -> str:
    """Activity ids seen lately, with their bodies' fingerprints: a retry is counted once."""
    return f"{{c:{customer_id}}}:k"


def customer_keys(customer_id: str) -> list[str]:
    """Profile, activity and contact history: the keys every customer script takes first."""
    return [
        customer_attributes(customer_id),
        customer_activity(customer_id),
        customer_contacts(customer_id),
    ]


def customer_data_keys(customer_id: str) -> list[str]:
    """The fixed keys of a customer (profile, activity, contacts, assignments, activity ids)."""
    return [
        *customer_keys(customer_id),
        customer_assignments(customer_id),
        customer_activity_ids(customer_id),
    ]


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
    """Sufficient statistics of one experiment (see experiments.cells)."""
    return f"{{e:{experiment_id}}}:cells"


def decision_id(customer_id: str, token: str) -> str:
    """``d-<token>~<customer id>``: the id carries its customer, so an event finds the slot."""
    return f"d-{token}~{customer_id}"


def customer_of_decision(decision_id: str) -> str:
    """The customer a decision id names; '' for a string that is not one."""
    parts = split_decision_id(decision_id)
    return parts[0] if parts else ""


def split_decision_id(value: str) -> tuple[str, str] | None:
    """(customer id, token) of a decision id, or None if it is not one."""
    if not value.startswith("d-") or "~" not in value:
        return None
    token, _, customer_id = value[2:].partition("~")
    if not token or not customer_id:
        return None
    return customer_id, token


# --- erasure ----------------------------------------------------------------------------------
# Erasure visits only what is held about the customer: its fixed keys, the keys listed in its
# index of named keys (decision records, request replays) and the items listed in its index of
# references outside its slot. A tombstone refuses every write for the customer meanwhile.

REF_SEP = "\x1f"  # never in a key name, an id or a stream entry id


def customer_tombstone(customer_id: str) -> str:
    """Set by erasure for ``NBO_ERASURE_TOMBSTONE_SECONDS``: writes for the customer are refused."""
    return f"{{c:{customer_id}}}:erased"


def customer_named_index(customer_id: str) -> str:
    """Sorted set: suffixes of the customer's keys with their own names, scored by expiry (ms)."""
    return f"{{c:{customer_id}}}:i"


def customer_refs(customer_id: str) -> str:
    """Sorted set, by name: the customer's items outside its slot (see :func:`stream_ref`)."""
    return f"{{c:{customer_id}}}:o"


def customer_slot_keys(customer_id: str) -> list[str]:
    """The customer's keys with fixed names, indexes included (erasure deletes them at once)."""
    return [
        *customer_data_keys(customer_id),
        customer_named_index(customer_id),
        customer_refs(customer_id),
    ]


def guard_keys(first_key: str) -> list[str]:
    """Tombstone and named-key index of the customer owning ``first_key`` (a ``{c:<id>}`` key)."""
    tag = first_key[: first_key.index("}") + 1]
    return [f"{tag}:erased", f"{tag}:i"]


def _entry_position(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{int(ms):015d}-{int(seq or 0):010d}"


def stream_ref(stream: str, entry_id: str) -> str:
    """A stream entry, ordered by its id under its stream, so trimmed ones drop out by range."""
    return f"x{REF_SEP}{stream}{REF_SEP}{_entry_position(entry_id)}"


def stream_floor(stream: str, first_id: str | None) -> tuple[str, str]:
    """(from, below): the references to entries before the stream's first one (all trimmed)."""
    prefix = f"x{REF_SEP}{stream}{REF_SEP}"
    return prefix, prefix + (_entry_position(first_id) if first_id else "~")


def member_ref(zset: str, close_at: float, member: str) -> str:
    """A sorted-set member (the attribution queue), ordered by the time it is due."""
    return f"z{REF_SEP}{zset}{REF_SEP}{int(close_at):012d}{REF_SEP}{member}"


def member_floor(zset: str, before: float) -> tuple[str, str]:
    """(from, below): references to members due before ``before``."""
    prefix = f"z{REF_SEP}{zset}{REF_SEP}"
    return prefix, f"{prefix}{int(max(before, 0)):012d}"


def parse_ref(ref: str) -> tuple[str, str, str]:
    """(kind ``x`` or ``z``, container key, entry id or member) of a reference."""
    kind, container, rest = ref.split(REF_SEP, 2)
    if kind == "x":
        ms, _, seq = rest.partition("-")
        return kind, container, f"{int(ms)}-{int(seq)}"
    return kind, container, rest.split(REF_SEP, 1)[1]
