#!/usr/bin/env bash
# Runs the example paper (examples/paper) end to end on the embedded defaults, installing what is missing
# first: records, the LaTeX package, the compiled paper, a local archive, verify, and a change caught.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
exec bash examples/paper/run.sh "$@"
