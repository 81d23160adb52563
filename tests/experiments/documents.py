"""Experiment documents the tests build on.

Most tests need variants whose treatment is a policy and nothing more; writing each as a
three-level literal hid which ids, weights and policies a test actually chose.
"""

from __future__ import annotations

from typing import Any


def policy_variants(*variants: tuple[str, float, str]) -> list[dict[str, Any]]:
    """Variant documents from ``(id, weight, policy)``, in the order given."""
    return [
        {"id": variant_id, "weight": weight, "treatment": {"policy": policy}}
        for variant_id, weight, policy in variants
    ]
