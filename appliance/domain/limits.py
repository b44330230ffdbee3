"""How much one encounter may hold, checked before anything parses or stores it.

A JSON text nested 60,000 levels deep makes the parser recurse until Python gives up, and a
10 MB encounter would be copied into every record read after it. Encounter data is small (a
full consultation is a few kB): 64 kB of JSON text and 8 levels of nesting leave room for every
real one. The text is measured first and its brackets counted next, so the check itself never
recurses and stops at the first byte past a limit.
"""

from __future__ import annotations

import json
import re
from typing import Any

from appliance.domain.encounters import InvalidEncounter

MAX_ENCOUNTER_BYTES = 64 * 1024
MAX_DEPTH = 8  # {"diagnoses": [{"code": ...}]} is 3

_TOKEN = re.compile(r'[\[\]{}"]')
# the rest of a JSON string after its opening quote; possessive, so it never backtracks
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*+"', re.DOTALL)


class DataTooLarge(InvalidEncounter):
    """The encounter's data is over MAX_ENCOUNTER_BYTES of JSON text."""

    def __init__(self, size: int, limit: int = MAX_ENCOUNTER_BYTES):
        kb = limit // 1024
        super().__init__(
            [("", f"the encounter data is over {kb} kB of JSON ({size} bytes)")],
            [{"loc": (), "type": "too_large", "msg": "too large", "ctx": {"max_kb": kb}}],
        )


class DataTooDeep(InvalidEncounter):
    """The encounter's data nests lists and objects deeper than MAX_DEPTH."""

    def __init__(self, limit: int = MAX_DEPTH):
        super().__init__(
            [("", f"the encounter data nests lists and objects more than {limit} levels deep")],
            [{"loc": (), "type": "too_deep", "msg": "too deep", "ctx": {"max_depth": limit}}],
        )


def text_depth(text: str, *, stop_above: int) -> int:
    """The deepest nesting of [ and { in a JSON text, strings skipped. Counting stops once
    past `stop_above` (the answer is then stop_above + 1) or at an unterminated string."""
    depth = deepest = 0
    pos = 0
    while (m := _TOKEN.search(text, pos)) is not None:
        char, pos = m.group(), m.end()
        if char == '"':
            end = _STRING_REST.match(text, pos)
            if end is None:
                break  # not JSON: the parser will say so
            pos = end.end()
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        else:
            depth = max(0, depth - 1)
    return deepest


def check_text(
    text: str | bytes, *, max_bytes: int = MAX_ENCOUNTER_BYTES, max_depth: int = MAX_DEPTH
) -> str:
    """The text, once it is known to be small and shallow enough to parse safely."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise DataTooLarge(size, max_bytes)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if text_depth(text, stop_above=max_depth) > max_depth:
        raise DataTooDeep(max_depth)
    return text


def loads(text: str | bytes, **limits: int) -> Any:
    """json.loads behind check_text; json.JSONDecodeError for text that is not JSON."""
    return json.loads(check_text(text, **limits))


def value_depth(value: Any, *, stop_above: int) -> int:
    """The nesting of lists and dicts in a parsed value, without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def check_data(
    data: Any, *, max_bytes: int = MAX_ENCOUNTER_BYTES, max_depth: int = MAX_DEPTH
) -> None:
    """The same limits on data already parsed (the kiosk, the forms, the API's body)."""
    if value_depth(data, stop_above=max_depth) > max_depth:
        raise DataTooDeep(max_depth)
    # depth is bounded now, so serialising cannot recurse far
    size = len(json.dumps(data, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise DataTooLarge(size, max_bytes)
