# deter-sim: two commands set everything up. `make run` then `make test`.
# PYTHON: the newest python3.1x (3.11 or later) that runs here; override with PYTHON=...
PYTHON ?= $(or $(shell for v in 19 18 17 16 15 14 13 12 11; do \
    python3.$$v -c "" >/dev/null 2>&1 && { echo python3.$$v; break; }; done),python3.11)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow test-integration test-wheel explore-figure lint format bench golden \
    validation lever-map calibration ensemble clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# The integration tests also need the explore page, EMA Workbench, Selenium and nbclient.
$(STAMP)-test: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)-test

run: $(STAMP)
	$(BIN)/deter-sim run scenarios/strict.yaml --force
	@echo "Results are in results/strict/ (timeseries.parquet, summary.csv, summary_stats.csv, scenario.resolved.yaml, manifest.json)"

test: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/ruff format --check sim tests benchmarks
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# The explore page in a real headless Chromium, the notebook, EMA Workbench, the installed
# command (a few minutes). Chromium and its driver come from the system (.ci/run installs them).
test-integration: $(STAMP)-test
	$(BIN)/python -m pytest -m integration

# The README's screenshot of the explore page, taken by its browser test.
explore-figure: $(STAMP)-test
	DETER_SIM_SCREENSHOT=docs/figures/explore.png $(BIN)/python -m pytest -m integration \
	    tests/model/test_app.py

# Build a wheel, install it (not editable) with PYTHON in a fresh environment outside the
# checkout and run the smoke test there from an empty folder: make test-wheel PYTHON=python3.13
test-wheel:
	bash .ci/wheel-smoke $(PYTHON)

lint: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format sim tests benchmarks
	$(BIN)/ruff check --fix sim tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_model.py
	$(BIN)/python benchmarks/bench_phases.py
	$(BIN)/python benchmarks/bench_sweep.py

# Full-scale validation (docs/VALIDATION.md): about 60 minutes on 2 cores, the maps included.
VAL := results/validation
validation: $(STAMP)
	$(BIN)/deter-sim targets baseline_2016 --out $(VAL)/targets --force
	$(BIN)/deter-sim elasticity baseline_2016 --out $(VAL)/elasticity --force
	$(BIN)/deter-sim intervention baseline_2016 strict --at 52 --years 2 --out $(VAL)/drunk_driving --force
	$(BIN)/deter-sim intervention baseline_2016 surge --at 52 --until 104 --years 3 --out $(VAL)/surge --force
	$(BIN)/deter-sim hysteresis baseline_2016 --set enforcement.prosecution_rate=0.9 \
	    --values 1,3,6,12,24 --hold 104 --out $(VAL)/hysteresis --force
	$(MAKE) lever-map

# The lever-ranking maps (docs/VALIDATION.md 2.2): elasticities of the prosecution rate, the
# conviction rate and the maximum sentence across law awareness and the weight of publicity,
# then across threshold awareness and the weight of own cases, at 100,000 sellers (about 15
# minutes each on 2 cores).
lever-map: $(STAMP)
	$(BIN)/deter-sim lever-map baseline_2016 --set population.sellers=100000 --replications 4 \
	    --grid beliefs.law_awareness=0,0.5,1 --grid beliefs.w_public=0.002,0.02,0.2 \
	    --out $(VAL)/lever_map --force
	$(BIN)/deter-sim lever-map baseline_2016 --set population.sellers=100000 --replications 4 \
	    --grid beliefs.threshold_awareness=0,0.5,1 --grid beliefs.w_own=1,10,50 \
	    --out $(VAL)/lever_map_exposure --force

# The fit of baseline_2016's five calibrated parameters (15 to 30 minutes on 2 cores): the
# sellers, the strike, referral, prosecution and conviction rates, from the values the closed
# model had before the open model (docs/VALIDATION.md 1.2); the result is
# results/calibration_2016/calibrated.yaml.
CAL_PARAMS := --param population.sellers=50000:2000000 \
    --param platform.strike_per_takedown=0.0001:0.1 --param platform.referral_rate=0.01:1 \
    --param enforcement.prosecution_rate=0.01:1 --param enforcement.conviction_rate=0.001:1
CAL_START := --set population.sellers=218420 --set platform.strike_per_takedown=0.005805 \
    --set platform.referral_rate=0.4969 --set enforcement.prosecution_rate=0.3025 \
    --set enforcement.conviction_rate=0.02504
calibration: $(STAMP)
	$(BIN)/deter-sim calibrate baseline_2016 $(CAL_START) $(CAL_PARAMS) --replications 4 \
	    --out results/calibration_2016 --force

# The plausible ensemble (docs/VALIDATION.md 1.3): history matching of baseline_2016 to
# calibration/patterns_2016.yaml at full scale: three waves of 40 points (about 30 minutes
# each on 2 cores), then 160 candidates confirmed on fresh seeds (about 30 minutes) and rounds
# of refinement of those that miss a figure (up to 30 minutes each); every kept candidate is run
# twice more on seeds of its own, and rounds go on (five at most) until 100 pass that recheck.
# About 5 hours in all. It copies the ensemble and the tables behind it into calibration/.
# Interrupted, `make ensemble` resumes.
HM := results/history_matching_2016
ensemble: $(STAMP)
	$(BIN)/deter-sim calibrate baseline_2016 --method history-matching --wave-size 40 \
	    --waves 3 --sets 100 --candidates 160 --confirm fit --confirm-replications 1 \
	    --refine 5 --recheck 2 \
	    --out $(HM) $(if $(wildcard $(HM)/history_matching.json),--resume)
	cp $(HM)/ensemble.csv calibration/ensemble_2016.csv
	mkdir -p calibration/history_matching_2016
	cp $(HM)/waves.csv $(HM)/space.csv $(HM)/diagnostics.csv $(HM)/design.csv \
	    $(HM)/confirmation.csv $(HM)/refine.csv $(HM)/recheck.csv $(HM)/manifest.json \
	    $(HM)/nroy.png \
	    calibration/history_matching_2016/

golden: $(STAMP)
	$(BIN)/python tests/update_golden.py

# Also numba's cache of compiled kernels: numba checks only the source file of a cached
# function, so after a change to sim/model/elementary.py, pcg64.py or memory.py alone the
# kernels that inline them must be compiled again.
clean:
	rm -rf $(VENV) results/*/ .pytest_cache
	find sim -name '*.nbi' -delete -o -name '*.nbc' -delete
