"""What counts as a number in a config or a strategy: finite, and no larger than any quantity
the model handles.

Every quantity of the model fits well below `MAX_MAGNITUDE` (training FLOP, the largest, are
5e25 today), and products of a few such numbers stay far from float64's 1.8e308, so a finite
input within the bound cannot overflow into inf or NaN downstream. Strict validation (pydantic's
`strict=True, allow_inf_nan=False`) already refuses true, "5", inf and NaN; `real_number` adds the
bound and reads -0.0 as 0.0 (numpy refuses a negative-zero scale).
"""

from __future__ import annotations

from typing import Any

MAX_MAGNITUDE = 1e30


def real_number(value: Any) -> Any:
    """`value` checked (numbers only; anything else passes through)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"too large; allowed: numbers within +-{MAX_MAGNITUDE:g}")
    return value + 0.0 if isinstance(value, float) else value


def real_numbers(value: Any) -> Any:
    """`real_number` over a value and the numbers inside a dict, list or tuple of numbers."""
    if isinstance(value, dict):
        return {k: real_number(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
        return type(value)(real_number(v) for v in value)
    return real_number(value)
