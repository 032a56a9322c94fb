#!/usr/bin/env bash
# Runs the example in examples/ end to end on the embedded defaults, installing what is missing first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
exec bash examples/quickstart/run.sh "$@"
