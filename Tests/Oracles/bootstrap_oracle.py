#!/usr/bin/env python3
"""Independent numpy computation of QATLab's perplexity standard error and paired bootstrap
(Sources/QATModel/PerplexitySpread.swift, Sources/QATEval/PairedBootstrap.swift), written from
their documented definitions.

Usage: bootstrap_oracle.py IN.json -> prints a JSON object on stdout.
IN.json: {"a": [per-window mean NLL of A], "b": [... of B], "resamples": R, "seed": S, "level": 0.95}
Output:  {"ppl_a", "ppl_a_se", "ratio", "low", "high", "log_ratio_se", "acc_diff", "acc_low",
          "acc_high", "acc_se"}  (the acc_* fields treat a and b as per-item 0/1 scores)
"""
import json
import math
import sys

import numpy as np

from xoshiro import Xoshiro256StarStar


def stderr_of_mean(x):
    x = np.asarray(x, dtype=np.float64)
    return float(np.std(x, ddof=1) / math.sqrt(len(x)))


def resampled_means(d, resamples, seed):
    rng = Xoshiro256StarStar(seed)
    n = len(d)
    means = []
    for _ in range(resamples):
        total = 0.0
        for _ in range(n):   # summed in draw order, as the Swift loop
            total += d[rng.next() % n]
        means.append(total / n)
    return np.array(means)


def main():
    spec = json.load(open(sys.argv[1]))
    a, b = spec["a"], spec["b"]
    resamples, seed, level = spec["resamples"], spec["seed"], spec["level"]
    qs = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    d = [y - x for x, y in zip(a, b)]
    ppl_a = math.exp(float(np.mean(a)))
    means = resampled_means(d, resamples, seed)
    lo, hi = np.percentile(np.exp(means), qs)
    acc_lo, acc_hi = np.percentile(means, qs)
    out = {
        "ppl_a": ppl_a,
        "ppl_a_se": ppl_a * stderr_of_mean(a),
        "ratio": math.exp(float(np.mean(d))),
        "low": float(lo), "high": float(hi),
        "log_ratio_se": stderr_of_mean(d),
        "acc_diff": float(np.mean(d)), "acc_low": float(acc_lo), "acc_high": float(acc_hi),
        "acc_se": stderr_of_mean(d),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
