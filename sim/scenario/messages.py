"""Pieces of the one-line error messages about scenarios: suggestions, bounds, short values."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel


def suggest(word: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to ``word``, or ``""``."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close and "." in word:
        tail = word.rsplit(".", 1)[-1]
        close = [c for c in choices if c.rsplit(".", 1)[-1] == tail][
            :1
        ] or difflib.get_close_matches(
            tail, [c.rsplit(".", 1)[-1] for c in choices], n=1, cutoff=0.75
        )
        close = [c for c in choices if close and c.endswith("." + close[0])][:1]
    return f" (did you mean '{close[0]}'?)" if close else ""


def allowed(root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Describe what the field at ``loc`` under the model ``root`` allows, from its schema."""
    model: Any = root
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            break
        info = fields[part]
        ann = info.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    if info is None:
        return ""
    bounds = []
    for meta in info.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{sym} {value:g}" if isinstance(value, float) else f"{sym} {value}")
    kind = getattr(info.annotation, "__name__", str(info.annotation))
    unit = (
        (info.json_schema_extra or {}).get("unit")
        if isinstance(info.json_schema_extra, dict)
        else None
    )
    text = f"allowed: {kind}"
    if bounds:
        text += " " + " and ".join(bounds)
    if unit:
        text += f", in {unit}"
    return text


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to 60 characters; huge integers described, not printed."""
    if isinstance(value, int) and abs(value).bit_length() > 200:
        return f"an integer of {len(hex(value)) - 2} hexadecimal digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
