"""History matching on a toy simulator whose answer is known (sim.experiments.matching).

The toy: two parameters in the unit square, outputs ``a + b`` and ``a - b`` with Gaussian
noise of one run. Observed at the truth (0.3, 0.6), the only plausible region is a small
neighbourhood of it, whose size follows the observation uncertainty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.experiments.matching import (
    CUTOFF,
    Dimension,
    Emulator,
    Observation,
    first_design,
    history_match,
    implausibility,
    maximin,
    plausible,
)

TRUTH = np.array([0.3, 0.6])
RUN_SD = 0.01
DIMS = [Dimension("a", 0, 1), Dimension("b", 0, 1)]


def toy(points: np.ndarray) -> np.ndarray:
    return np.column_stack([points[:, 0] + points[:, 1], points[:, 0] - points[:, 1]])


def observations(sd: float) -> list[Observation]:
    z = toy(TRUTH[None])[0]
    return [Observation("sum", z[0], z[0], sd**2), Observation("difference", z[1], z[1], sd**2)]


def simulate(wave: int, design: np.ndarray) -> pd.DataFrame:
    rng = np.random.default_rng(wave)
    noisy = toy(design) + rng.normal(0, RUN_SD, (len(design), 2))
    return pd.DataFrame(noisy, columns=["sum", "difference"])


@pytest.fixture(scope="module", params=[0.05, 0.01], ids=["sd=0.05", "sd=0.01"])
def matched(request):
    obs = observations(request.param)
    matching = history_match(DIMS, obs, simulate, wave_size=20, max_waves=5, seed=1)
    return request.param, obs, matching, matching.region.points, matching.region.fraction


def test_the_truth_is_never_ruled_out_and_a_wrong_region_is(matched):
    _, obs, matching, left, _ = matched
    for k in range(1, len(matching.waves) + 1):
        assert plausible(matching.waves[:k], obs, TRUTH[None])[0], f"wave {k} ruled out the truth"
    wrong = np.array([[0.9, 0.1], [0.1, 0.1], [0.6, 0.3]])
    assert not plausible(matching.waves, obs, wrong).any()
    assert np.all(np.abs(left.mean(axis=0) - TRUTH) < 0.05)


def test_the_space_left_shrinks_with_the_observation_uncertainty(matched):
    sd, _, matching, left, share = matched
    # The plausible region is about a square of side 2 x 3 x sqrt(sd^2 + run sd^2) (rotated
    # by the sum and difference), i.e. a share of about 18 (sd^2 + run sd^2) of the space.
    expected = 18 * (sd**2 + RUN_SD**2)
    assert 0.3 * expected < share < 3 * expected, (share, expected)
    assert matching.nroy_fractions[-1] < 0.2
    assert np.all(left.std(axis=0) < 3 * np.sqrt(sd**2 + RUN_SD**2))


def test_a_tighter_observation_leaves_a_smaller_ensemble():
    spreads = []
    for sd in (0.05, 0.01):
        obs = observations(sd)
        matching = history_match(DIMS, obs, simulate, wave_size=20, max_waves=5, seed=1)
        spreads.append(matching.region.points.std(axis=0))
    assert np.all(spreads[1] < 0.5 * spreads[0]), spreads


def test_the_emulator_recovers_the_nugget_and_passes_its_leave_one_out_check():
    design = first_design(2, 40, seed=3)
    noisy = simulate(7, design)["sum"].to_numpy()
    emulator = Emulator(design, noisy, seed=0)
    assert 0.5 * RUN_SD < np.sqrt(emulator.simulation_variance) < 2 * RUN_SD
    loo = emulator.leave_one_out()
    assert (loo.standardised.abs() <= 2).mean() >= 0.85
    # Its mean is the toy's, within a few run sds, away from the design points too.
    probe = np.random.default_rng(1).random((200, 2))
    mean, var = emulator.predict(probe)
    assert np.abs(mean - toy(probe)[:, 0]).max() < 5 * RUN_SD
    assert np.all(var >= 0)


def test_leave_one_out_in_closed_form_equals_refitting_without_the_point():
    design = first_design(2, 15, seed=4)
    values = toy(design)[:, 0] ** 2 + 0.01 * np.sin(20 * design[:, 1])
    emulator = Emulator(design, values, seed=0)
    loo = emulator.leave_one_out()
    from sklearn.gaussian_process import GaussianProcessRegressor

    for i in (0, 7):
        keep = np.arange(len(design)) != i
        # The same kernel, fixed, with the normalisation of all points (as in the closed form).
        gp = GaussianProcessRegressor(emulator.gp.kernel_, optimizer=None, normalize_y=False)
        centre, scale = emulator.gp._y_train_mean, emulator.gp._y_train_std
        residuals = emulator.residuals
        gp.fit(design[keep], (residuals[keep] - centre) / scale)
        mean = gp.predict(design[i : i + 1])[0] * scale + centre + values[i] - residuals[i]
        assert loo.loo_mean[i] == pytest.approx(mean, rel=1e-6, abs=1e-9)


def test_a_range_is_respected_anywhere_inside_it():
    obs = Observation("x", -0.3, -0.1, 0.01**2)
    assert obs.distance(np.array([-0.2, -0.3, -0.1])) == pytest.approx([0, 0, 0], abs=1e-12)
    assert obs.distance(np.array([0.0]))[0] == pytest.approx(0.1)
    assert obs.distance(np.array([-0.5]))[0] == pytest.approx(0.2)


def test_implausibility_weighs_the_distance_by_every_variance():
    design = first_design(1, 30, seed=5)
    emulator = Emulator(design, 2 * design[:, 0], seed=0)
    obs = [Observation("y", 1.0, 1.0, 0.1**2)]
    near, far = implausibility({"y": emulator}, obs, np.array([[0.5], [0.95]]))[:, 0]
    assert near < 0.5
    assert far == pytest.approx(0.9 / 0.1, rel=0.05)
    assert far > CUTOFF


def test_maximin_spreads_the_points_and_keeps_earlier_choices():
    points = np.random.default_rng(0).random((500, 2))
    few = maximin(points, 5, np.random.default_rng(1))
    more = maximin(points, 9, np.random.default_rng(1))
    assert {tuple(p) for p in few} <= {tuple(p) for p in more}
    gaps = np.linalg.norm(few[:, None] - few[None], axis=2) + np.eye(5)
    assert gaps.min() > 0.2


def test_a_dimension_maps_the_unit_interval_on_its_scale():
    log = Dimension("x", 0.01, 1.0, log=True)
    assert log.value(np.array([0.0, 0.5, 1.0])) == pytest.approx([0.01, 0.1, 1.0])
    assert log.unit(np.array([0.1]))[0] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        Dimension("x", 0.0, 1.0, log=True)


def test_candidates_are_topped_up_from_the_final_space_when_it_holds_too_few():
    from sim.experiments.matching import Matching, Region, topped_up

    own = np.array([[0.25, 0.3], [0.35, 0.35], [0.3, 0.25]])
    region = Region(own, 0.01, np.array([0.2, 0.2]), np.array([0.4, 0.4]))
    matching = Matching([], "test", region)  # no wave: nothing in the box is ruled out
    rng = np.random.default_rng(3)
    points = topped_up(matching, [], 10, rng, draws=1000)
    assert points.shape == (10, 2)
    np.testing.assert_array_equal(points[:3], own)  # the region's own points first
    assert (points[3:] >= 0.2).all() and (points[3:] <= 0.4).all()
    assert len(np.unique(points, axis=0)) == 10
    # With enough points of its own, the region is not drawn from again.
    assert len(topped_up(matching, [], 2, np.random.default_rng(3), draws=1000)) == 2
