"""Mean ± 95% confidence interval (Student t) of a cell's seeds, and the paired
difference arm − base over the seeds both finished."""
import math

import numpy as np
from scipy import stats


def t_interval(values, confidence=0.95):
    """{"n", "mean", "std" (ddof 1), "low", "high"} of ``values``: the t-interval
    mean ± t_{(1+c)/2, n-1} · std / sqrt(n). With one value std and the bounds are NaN."""
    values = np.asarray(values, np.float64)
    n = len(values)
    if n == 0:
        raise ValueError("t_interval of no values. Fix: finish at least one seed of the cell.")
    mean = float(values.mean())
    if n == 1:
        return dict(n=1, mean=mean, std=math.nan, low=math.nan, high=math.nan)
    std = float(values.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return dict(n=n, mean=mean, std=std, low=mean - half, high=mean + half)


def paired_difference(arm, base, confidence=0.95):
    """`t_interval` of arm[seed] − base[seed] over the seeds in both ({seed: value}
    dicts), plus "seeds" (sorted) and "diffs" (per seed)."""
    seeds = sorted(set(arm) & set(base))
    diffs = [arm[s] - base[s] for s in seeds]
    if not seeds:
        raise ValueError("paired_difference needs seeds finished in both arms.")
    return dict(t_interval(diffs, confidence), seeds=seeds, diffs=diffs)
