"""A tiny analysis for paperlink's quickstart: fit a line to noisy data, draw it as SVG, write the values.

Standard library only, so the quickstart runs anywhere; the example paper (examples/paper) uses numpy and
matplotlib.
"""

import json
import random
import sys
from pathlib import Path


def main(parameter_file: str) -> None:
    params = json.loads(Path(parameter_file).read_text())
    rng = random.Random(params["seed"])
    xs = [i / 10 for i in range(50)]
    ys = [params["slope"] * x + rng.gauss(0, params["noise"]) for x in xs]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=False)) / sum(
        (x - mx) ** 2 for x in xs
    )
    dots = "".join(
        f'<circle cx="{20 + 60 * x:.1f}" cy="{280 - 25 * y:.1f}" r="2"/>'
        for x, y in zip(xs, ys, strict=False)
    )
    line = f'<line x1="20" y1="{280 - 25 * my + 25 * slope * mx:.1f}" x2="320" y2="{280 - 25 * (my + slope * (5 - mx)):.1f}" stroke="red"/>'
    name = params["name"]
    Path("figures").mkdir(exist_ok=True)
    Path("results").mkdir(exist_ok=True)
    Path(f"figures/{name}.svg").write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="340" height="300">{dots}{line}</svg>\n'
    )
    Path(f"results/{name}.json").write_text(json.dumps({"slope": round(slope, 4), "n": n}) + "\n")
    print(f"{name}: fitted slope {slope:.4f} on {n} points")


if __name__ == "__main__":
    main(sys.argv[1])
