#!/usr/bin/env bash
# The quickstart, end to end: a scratch project, init, two recorded runs, list, show and diff.
# Runs in a scratch folder (default: a new temporary one; or $1) so the repository stays clean.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${1:-$(mktemp -d -t paperlink-quickstart-XXXXXX)}"
mkdir -p "$WORK"
cp "$HERE/analysis.py" "$HERE/baseline.json" "$HERE/steep.json" "$HERE/CITATION.cff" "$WORK/"
cd "$WORK"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

git init -q . && git add . && git -c user.name=example -c user.email=example@example.org commit -qm "analysis"
step paperlink init --name quickstart
step paperlink run --label baseline --reason "first look" --tag example -- python3 analysis.py baseline.json
step paperlink run --label steep --reason "twice the slope" --tag example -- python3 analysis.py steep.json
step paperlink list
step paperlink show baseline
step paperlink diff baseline steep
step paperlink publish --all --to "$WORK/archive"
echo
echo "Quickstart done in $WORK: records in $WORK/.paperlink, figures in $WORK/figures, archive in $WORK/archive."
