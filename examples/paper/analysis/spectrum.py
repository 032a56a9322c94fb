"""The spectrum of a noisy two-tone signal: an FFT, the strongest peak, one figure and one value.

python3 analysis/spectrum.py params/spectrum.json
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
    rate = params["sample_rate_hz"]
    t = np.arange(0, params["seconds"], 1 / rate)
    signal = sum(
        a * np.sin(2 * np.pi * f * t)
        for f, a in zip(params["tones_hz"], params["amplitudes"], strict=True)
    )
    signal = signal + rng.normal(0, params["noise"], t.size)
    power = np.abs(np.fft.rfft(signal)) ** 2 / t.size
    freqs = np.fft.rfftfreq(t.size, 1 / rate)
    peak = float(freqs[np.argmax(power[1:]) + 1])

    fig, ax = plt.subplots(figsize=(4.5, 3.0))
    ax.plot(freqs, power, color="C0", lw=0.8)
    ax.axvline(peak, color="C3", ls="--", lw=0.8)
    ax.set_xlim(0, rate / 2)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("power")
    fig.tight_layout()
    Path("figures").mkdir(exist_ok=True)
    fig.savefig("figures/spectrum.png", dpi=150)
    Path("results").mkdir(exist_ok=True)
    values = {"peak_hz": f"{peak:.1f}"}
    Path("results/spectrum.values.json").write_text(
        json.dumps(values, indent=2, sort_keys=True) + "\n"
    )
    print(f"strongest peak at {peak:.1f} Hz")


if __name__ == "__main__":
    main(sys.argv[1])
