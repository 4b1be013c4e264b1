"""The defect library: common defects per product category, each with a default class.

The library is a data file (``data/defect_library.json``) so the PWA can fetch and cache
it for offline use (it is also served as ``/data/defect_library.json``). Pure functions;
the file is read once per process.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

LIBRARY_PATH = Path(__file__).with_name("data") / "defect_library.json"
CATEGORIES = ("apparel", "hard_goods", "packaging")


@functools.cache
def load_library() -> dict[str, Any]:
    """The parsed library ``{"version", "categories": {category: [{code, label, default_class}]}}``.

    Shared between callers: treat it as read-only.
    """
    with LIBRARY_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


def entries(category: str | None = None) -> list[dict[str, Any]]:
    """Library entries of one category (or of all, each with its ``category``).

    Raises ValueError for an unknown category.
    """
    cats = load_library()["categories"]
    if category is not None and category not in cats:
        raise ValueError(f"unknown category {category!r}: use one of {', '.join(cats)}")
    names = [category] if category else list(cats)
    return [{**e, "category": name} for name in names for e in cats[name]]


def default_class(code: str, category: str | None) -> str | None:
    """The default defect class of ``code``: first in the product's category, then any category.

    Returns None when the code is not in the library.
    """
    cats = load_library()["categories"]
    order = ([category] if category in cats else []) + [c for c in cats if c != category]
    for name in order:
        for e in cats[name]:
            if e["code"] == code:
                return e["default_class"]
    return None
