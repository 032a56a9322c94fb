#!/usr/bin/env bash
# The example paper, end to end on the embedded defaults:
#   init -> two recorded runs (in a container when a Docker engine answers, on the host otherwise)
#   -> paperlink latex -> latexmk -> publish to a local archive folder -> verify (all OK)
#   -> then one figure is changed behind paperlink's back, and verify and the compilation both catch it.
# Works in a scratch copy (default: a new temporary folder; or $1), so the repository stays clean.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${1:-$(mktemp -d -t paperlink-paper-XXXXXX)}"
mkdir -p "$WORK"
cp -r "$HERE/analysis" "$HERE/params" "$HERE/paper" "$HERE/Dockerfile" "$HERE/CITATION.cff" "$WORK/"
cd "$WORK"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

cat > .gitignore <<'IGNORE'
figures/
results/
archive/
paper/*.aux
paper/*.log
paper/*.out
paper/*.fls
paper/*.fdb_latexmk
paper/*.pdf
IGNORE
git init -q . && git add . && git -c user.name=example -c user.email=example@example.org commit -qm "The study"
say "1. Start the project"
step paperlink init --name half-lives

say "2. Run the analyses, recorded"
RUN_IN=()
if docker info >/dev/null 2>&1; then
  BASE="python:3.11-slim"
  if ! docker image inspect "$BASE" >/dev/null 2>&1 && ! timeout 20 docker pull -q "$BASE" >/dev/null 2>&1; then
    BASE="paperlink-example-base:bookworm"
    echo "Docker Hub cannot be reached: building the base image offline from Debian's packages"
    echo "(docker/build-base.sh: debootstrap + python3-numpy + python3-matplotlib), once."
    bash "$HERE/docker/build-base.sh" "$BASE"
  fi
  echo "A Docker engine answers: the analyses run in a container built from ./Dockerfile (FROM $BASE)."
  RUN_IN=(--dockerfile Dockerfile --build-arg "BASE=$BASE")
else
  echo "No Docker engine answers here: the analyses run on the host (python3 with numpy and matplotlib)."
fi
step paperlink run "${RUN_IN[@]}" --label decay --reason "half-life fit" --tag paper \
  -- python3 analysis/decay.py params/decay.json
step paperlink run "${RUN_IN[@]}" --label spectrum --reason "two-tone spectrum" --tag paper \
  -- python3 analysis/spectrum.py params/spectrum.json
step paperlink list

say "3. The LaTeX package, and the paper"
step paperlink latex --tex paper/main.tex
step latexmk -pdf -cd -silent -interaction=nonstopmode -halt-on-error paper/main.tex >/dev/null
echo "paper/main.pdf: $(pdfinfo paper/main.pdf 2>/dev/null | grep -E '^Pages' || echo compiled)"

say "4. Archive results, records, code and environment (a local archive folder here; Zenodo with a token)"
PUBLISH=(--all --to archive --pdf paper/main.pdf)
if [ ${#RUN_IN[@]} -gt 0 ]; then
  # Both analyses ran in the same image: one archive of it serves both records.
  step paperlink image save decay -o environment.tar.gz
  PUBLISH+=(--image-archive environment.tar.gz)
fi
step paperlink publish "${PUBLISH[@]}"

say "5. Verify: every figure and value against its record, its archive and a re-execution"
step paperlink verify paper/main.tex
echo "From the PDF alone (its embedded manifest), with the archive and a re-execution of each record:"
step paperlink verify paper/main.pdf --zenodo --rerun

say "6. A figure changes behind paperlink's back: verify and the compilation both catch it"
python3 - <<'PY'
from pathlib import Path
path = Path("figures/spectrum.png")
data = bytearray(path.read_bytes())
data[-20] ^= 0xFF  # one flipped byte, as an accidental re-export would do worse
path.write_bytes(bytes(data))
PY
set +e
paperlink verify paper/main.tex
status=$?
echo "(paperlink verify exited $status: 3 means a figure does not match its record)"
# Under another job name, so that the good paper/main.pdf stays as it is.
latexmk -pdf -cd -silent -interaction=nonstopmode -halt-on-error -jobname=main-changed paper/main.tex \
  >/dev/null 2>&1
compiled=$?
set -e
grep -A3 "paperlink Error" paper/main-changed.log | head -n 6 || true
echo "(latexmk exited $compiled: the package refused the changed figure while compiling)"
[ "$status" -eq 3 ] && [ "$compiled" -ne 0 ]
say "Done: $WORK (records in .paperlink/, the archive in archive/, the paper in paper/main.pdf)"
