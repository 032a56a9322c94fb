"""Half-life of a simulated radioactive sample: Poisson counts, a log-linear fit, one figure and two values.

python3 analysis/decay.py params/decay.json
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def main(parameter_file: str) -> None:
    params = json.loads(Path(parameter_file).read_text())
    rng = np.random.default_rng(params["seed"])
    t = np.arange(0.0, params["duration_min"], params["step_min"])
    expected = params["initial_rate"] * 0.5 ** (t / params["true_half_life_min"])
    counts = rng.poisson(expected)
    keep = counts > 0
    slope, intercept = np.polyfit(t[keep], np.log(counts[keep]), 1)
    half_life = float(np.log(2) / -slope)
    fitted = np.exp(intercept + slope * t)
    residual = np.log(counts[keep]) - (intercept + slope * t[keep])
    r_squared = float(1 - residual.var() / np.log(counts[keep]).var())

    fig, ax = plt.subplots(figsize=(4.5, 3.0))
    ax.semilogy(t, counts, ".", color="0.3", label="counts")
    ax.semilogy(t, fitted, "-", color="C3", label=f"fit: $t_{{1/2}}$ = {half_life:.2f} min")
    ax.set_xlabel("time (min)")
    ax.set_ylabel("counts per interval")
    ax.legend(frameon=False)
    fig.tight_layout()
    Path("figures").mkdir(exist_ok=True)
    fig.savefig("figures/decay.pdf")
    Path("results").mkdir(exist_ok=True)
    values = {"half_life": f"{half_life:.2f}", "r_squared": f"{r_squared:.3f}"}
    Path("results/decay.values.json").write_text(
        json.dumps(values, indent=2, sort_keys=True) + "\n"
    )
    print(
        f"half-life {half_life:.2f} min (true {params['true_half_life_min']}), R^2 {r_squared:.3f}"
    )


if __name__ == "__main__":
    main(sys.argv[1])
