#!/usr/bin/env bash
# Runs lint, types and the whole test suite, installing what is missing first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== pytest"
if [ "$#" -eq 0 ]; then
  # The whole suite: on two workers (the tests that share Docker or the Slurm cluster stay on one, see
  # tests/conftest.py), with coverage and its floor (pyproject.toml, [tool.coverage.report]).
  set -- -n "${PAPERLINK_TEST_WORKERS:-2}" --dist loadgroup --cov=paperlink --cov-report=term:skip-covered
fi
pytest -p no:cacheprovider "$@"
