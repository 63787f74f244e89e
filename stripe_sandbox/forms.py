"""Decode Stripe's bracketed form encoding into nested dicts and lists.

``line_items[0][price]=p`` becomes ``{"line_items": [{"price": "p"}]}`` and
both ``expand[]=x`` and ``expand[0]=x`` become ``{"expand": ["x"]}``.
"""

import re
from collections.abc import Iterable
from typing import Any

_KEY_PART = re.compile(r"\[([^\]]*)\]")

# Keys under these names are free-form strings, never list indexes.
_FREE_FORM = {"metadata"}


class FormError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def split_key(key: str) -> list[str]:
    """``a[b][0]`` -> ``["a", "b", "0"]``; ``a[]`` -> ``["a", ""]``."""
    head, _, rest = key.partition("[")
    if not rest:
        return [head]
    tail = "[" + rest
    parts = _KEY_PART.findall(tail)
    if "".join(f"[{p}]" for p in parts) != tail:
        raise FormError(f"Invalid parameter name: {key}", key)
    return [head, *parts]


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest flat ``(key, value)`` pairs, then turn index-keyed dicts into lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        _insert(root, split_key(key), value, key)
    return _listify(root, parent=None)


def _insert(node: dict, parts: list[str], value: str, key: str) -> None:
    for part in parts[:-1]:
        if part == "":
            # `a[][b]`: rare; treat each occurrence as a new element.
            part = _append_slot(node)
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise FormError(f"Invalid parameter: {key}", key)
        node = child
    last = parts[-1]
    if last == "":
        last = _append_slot(node)
    node[last] = value


def _append_slot(node: dict) -> str:
    return f"\0{len(node):06d}"


def _is_index(key: str) -> bool:
    return key.isdigit() or key.startswith("\0")


def _listify(node: Any, parent: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v, k) for k, v in node.items()}
    if parent in _FREE_FORM or not items:
        return items
    if all(_is_index(k) for k in items):
        return [items[k] for k in sorted(items, key=_index_order)]
    return items


def _index_order(key: str) -> tuple[int, int]:
    if key.startswith("\0"):
        return (1, int(key[1:]))
    return (0, int(key))
