"""Batches of runs: every run, its seed and its file are fixed before anything executes."""

from __future__ import annotations

import numpy as np
from helpers import tiny

from sim.experiments.batch import Batch
from sim.model.streams import replication_seeds

POINTS = [
    ("reference", {}),
    ("low", {"enforcement.prosecution_rate": 0.1}),
    ("high", {"enforcement.prosecution_rate": 0.9}),
]


def test_batch_run_paths_are_partitioned_by_point(tmp_path):
    batch = Batch(tmp_path, "sweep", tiny(), [("reference", {})], 2, {})
    assert batch.run_path(3, 1) == tmp_path / "runs" / "point-00003" / "rep-0001.parquet"
    assert np.array_equal([s.run_id for s in batch.specs()], [0, 1])


def test_every_point_runs_on_the_replication_seeds_of_the_scenario(tmp_path):
    base = tiny()
    specs = Batch(tmp_path, "sweep", base, POINTS, 4, {}).specs()
    expected = replication_seeds(base.seed, 4)
    assert len(specs) == len(POINTS) * 4
    for point in range(len(POINTS)):
        mine = [s for s in specs if s.point == point]
        # Common random numbers: replication i of every point uses the i-th seed.
        assert [s.seed for s in mine] == expected
        assert [s.replication for s in mine] == [0, 1, 2, 3]
        assert [s.run_id for s in mine] == [point * 4 + r for r in range(4)]
    assert specs[-1].scenario.enforcement.prosecution_rate == 0.9


def test_seeds_do_not_depend_on_the_number_of_points_or_replications(tmp_path):
    base = tiny()
    alone = Batch(tmp_path, "sweep", base, POINTS[:1], 3, {}).specs()
    among = Batch(tmp_path, "sweep", base, POINTS, 3, {}).specs()
    more = Batch(tmp_path, "sweep", base, POINTS[:1], 5, {}).specs()
    assert [s.seed for s in alone] == [s.seed for s in among if s.point == 0]
    assert [s.seed for s in more][:3] == [s.seed for s in alone]
    other_root = Batch(tmp_path, "sweep", tiny("baseline_2016", "seed=7"), POINTS[:1], 3, {})
    assert not {s.seed for s in other_root.specs()} & {s.seed for s in alone}
