"""Finished models are freed, whichever Mesa this Python gets (3.3.1 on 3.11, 3.5+ on 3.12+).

Mesa 3.3.1 keeps every model in the class-level ``mesa.Agent._ids``: ``release()`` pops it (the
runner always calls it). Newer Mesa has no ``_ids`` (a counter per model) and frees finished
models by itself; ``release()`` must then do nothing, and not fail.
"""

from __future__ import annotations

import gc
import weakref

import mesa
import pytest

from sim.model.model import DeterrenceModel

MESA_KEEPS_MODELS = hasattr(mesa.Agent, "_ids")


def finished_model(scenario) -> DeterrenceModel:
    model = DeterrenceModel(scenario, 7)
    for _ in range(3):
        model.step()
    return model


def is_freed(reference: weakref.ref) -> bool:
    gc.collect()
    return reference() is None


def test_a_released_model_is_freed(small_baseline):
    kept_before = len(mesa.Agent._ids) if MESA_KEEPS_MODELS else 0
    model = finished_model(small_baseline)
    model.release()
    reference = weakref.ref(model)
    del model
    assert is_freed(reference)
    if MESA_KEEPS_MODELS:
        assert len(mesa.Agent._ids) == kept_before


def test_release_can_be_called_twice(small_baseline):
    model = finished_model(small_baseline)
    model.release()
    model.release()


@pytest.mark.skipif(not MESA_KEEPS_MODELS, reason=f"Mesa {mesa.__version__} has no Agent._ids")
def test_without_release_mesa_3_3_keeps_the_model(small_baseline):
    model = finished_model(small_baseline)
    reference = weakref.ref(model)
    del model
    assert not is_freed(reference)  # the leak that release() exists for
    mesa.Agent._ids.pop(reference(), None)


@pytest.mark.skipif(MESA_KEEPS_MODELS, reason=f"Mesa {mesa.__version__} keeps models in _ids")
def test_newer_mesa_frees_a_model_by_itself(small_baseline):
    model = finished_model(small_baseline)
    reference = weakref.ref(model)
    del model
    assert is_freed(reference)
