"""The Mesa model: counterfeiters (two engines), the platform, the enforcers, one week a step.

Modules, from the bottom up: ``rules`` (pure formulas, numpy only), ``streams`` (random
streams), ``network``, ``metrics`` (the weekly metrics, declared once), ``week`` (what a week
shares: streams, tallies, publicity), ``population`` (the ``Population`` protocol and the
initial draw), ``agents`` (``SellerState``, ``Counterfeiter`` and the ``agents`` engine),
``arrays`` (the ``vector`` engine), ``platform``, ``enforcer`` and ``model``
(``DeterrenceModel``). Nothing here imports the experiments, the reporting or the CLI, and
this file imports nothing heavy: ``DeterrenceModel`` and ``ENGINES`` are loaded on first use,
so ``import sim.model.rules`` stays light (numpy only).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.model.model import ENGINES, DeterrenceModel

__all__ = ["ENGINES", "DeterrenceModel"]


def __getattr__(name: str) -> Any:
    """``DeterrenceModel`` and ``ENGINES``, imported on first use (they load Mesa)."""
    if name in __all__:
        return getattr(importlib.import_module("sim.model.model"), name)
    raise AttributeError(f"module 'sim.model' has no attribute {name!r}")
