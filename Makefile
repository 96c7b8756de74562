# deter-sim: two commands set everything up. `make run` then `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow lint format bench golden validation calibration clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/deter-sim run scenarios/strict.yaml --force
	@echo "Results are in results/strict/ (timeseries.parquet, summary.csv, summary_stats.csv, scenario.resolved.yaml, manifest.json)"

test: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks
	$(BIN)/ruff format --check sim tests benchmarks
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format sim tests benchmarks
	$(BIN)/ruff check --fix sim tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_model.py
	$(BIN)/python benchmarks/bench_sweep.py

# Full-scale validation (docs/VALIDATION.md): about 25 minutes on 2 cores.
VAL := results/validation
validation: $(STAMP)
	$(BIN)/deter-sim targets baseline_2016 --out $(VAL)/targets --force
	$(BIN)/deter-sim elasticity baseline_2016 --out $(VAL)/elasticity --force
	$(BIN)/deter-sim intervention baseline_2016 strict --at 52 --years 2 --out $(VAL)/drunk_driving --force
	$(BIN)/deter-sim intervention baseline_2016 surge --at 52 --until 104 --years 3 --out $(VAL)/surge --force
	$(BIN)/deter-sim hysteresis baseline_2016 --set enforcement.prosecution_rate=0.9 \
	    --values 1,3,6,12,24 --hold 104 --out $(VAL)/hysteresis --force

# The fit of baseline_2016's five calibrated rates from the hand-set values (7 to 15 minutes on
# 2 cores); the result is results/calibration_2016/calibrated.yaml (docs/VALIDATION.md 1.2).
CAL_START := --set platform.detection_rate=0.18 --set platform.strike_per_takedown=0.0058 \
    --set platform.referral_rate=0.25 --set enforcement.prosecution_rate=0.30 \
    --set enforcement.conviction_rate=0.025
calibration: $(STAMP)
	$(BIN)/deter-sim calibrate baseline_2016 $(CAL_START) --replications 4 \
	    --out results/calibration_2016 --force

golden: $(STAMP)
	$(BIN)/python tests/update_golden.py

clean:
	rm -rf $(VENV) results/*/ .pytest_cache
