"""A decision's CPU budget from py-spy samples of the server under load.

py-spy samples the running ``nbo serve`` from outside (no instrumentation in the process, no
pause with ``--nonblocking``) and by default records only samples where the thread is on the
CPU, so idle time waiting on the store or the network is not counted: what remains is what
one decision costs the server's core. Each sample is charged to the innermost frame of its
stack that names a budget line below; the rest of the stack (uvicorn, starlette, redis-py,
asyncio) is charged to the line of its innermost named caller, or to "server framework" when
no named frame encloses it (the HTTP parser, the event loop, the write-back of responses).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

__all__ = ["BUDGET", "budget_from_collapsed"]

FRAMEWORK = "server framework (uvicorn, starlette, fastapi, event loop)"

# (file suffix, function) -> budget line; the innermost match on a stack wins
BUDGET: dict[tuple[str, str], str] = {
    ("fastapi/routing.py", "app"): "framework: routing, validation, response",
    ("fastapi/dependencies/utils.py", "solve_dependencies"): "parse and auth",
    ("api/deps.py", "check"): "parse and auth",
    ("api/middleware.py", "__call__"): "framework: routing, validation, response",
    ("api/routes/decisions.py", "post_decision"): "decision: other",
    ("engine/decision/engine.py", "decide"): "decision: other",
    ("engine/store/loop.py", "read_for_decision"): "store: customer read",
    ("engine/customers/service.py", "decode_attributes"): "features",
    ("engine/domain/profiles.py", "compute_features"): "features",
    ("engine/domain/vectoriser.py", "vector"): "features",
    ("engine/domain/segments.py", "memberships"): "segments",
    ("engine/domain/contacts.py", "parse_contact_history"): "eligibility and caps",
    ("engine/decision/eligibility.py", "evaluate_offer"): "eligibility and caps",
    ("engine/decision/eligibility.py", "admissible"): "eligibility and caps",
    ("experiments/exposure.py", "assignment_for_request"): "experiment assignment",
    ("engine/decision/treatment.py", "treatment_for"): "experiment assignment",
    ("engine/learning/registry.py", "scorer"): "model lookup",
    ("engine/decision/choice.py", "choose"): "arbitration",
    ("engine/learning/policies/_scorer.py", "score"): "scoring",
    ("engine/learning/policies/_scorer.py", "sample"): "scoring",
    ("engine/decision/arbitration.py", "select"): "arbitration",
    ("engine/decision/record.py", "record_fields"): "logging: records",
    ("engine/decision/record.py", "decision_log_record"): "logging: records",
    ("engine/store/loop.py", "commit_decision"): "store: caps and decision commit",
    ("engine/decision/log_queue.py", "flush_log"): "logging: store write (after the response)",
    ("engine/decision/response.py", "json"): "serialisation",
    ("loadtests/floor.py", "decide"): "floor handler (parse, answer)",
    ("engine/store/redis.py", "read_customer"): "store: customer read",
    ("engine/learning/learner.py", "run"): "learner (in the server process)",
}

# py-spy's collapsed ("raw") frame: "function (path/to/file.py:line)"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _line_of(frame: str) -> str | None:
    match = _FRAME.match(frame.strip())
    if match is None:
        return None
    # py-spy qualifies names ("DecisionLoop.read_for_decision", "allow.<locals>.check")
    function = match["function"].rsplit(".", 1)[-1]
    path = match["file"].replace("\\", "/")
    for (suffix, name), line in BUDGET.items():
        if name == function and path.endswith(suffix):
            return line
    return None


def budget_from_collapsed(lines: Iterable[str]) -> dict[str, int]:
    """Samples per budget line from py-spy's collapsed stacks ("a;b;c count" per line)."""
    samples: dict[str, int] = defaultdict(int)
    for raw in lines:
        stack, _, count = raw.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        line = FRAMEWORK
        for frame in stack.split(";"):
            named = _line_of(frame)
            if named is not None:
                line = named
        samples[line] += int(count)
    return dict(samples)
