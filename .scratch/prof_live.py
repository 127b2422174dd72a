import sys, time
sys.path.insert(0, "benchmarks")
import numpy as np
import bench_engine as be
from driftmon.core.columns import live_histograms, profile_columns, score_columns
from driftmon.core.parallel import ColumnPool
from driftmon.core.drift import score
rows = 1_000_000
specs = be.feature_specs()
ref = be.make_frame(rows, be.SEED, live=False)
live = be.make_frame(rows, be.SEED, live=True)
pool = ColumnPool(1)
profile = profile_columns(ref, specs, pool)
print({c: str(live[c].dtype) for c in live.columns})
def best(fn, n=7):
    ts=[]
    for _ in range(n):
        t=time.process_time(); fn(); ts.append(time.process_time()-t)
    return min(ts)*1000
tot=0
for f in profile.features:
    col = live[f.name]
    h = best(lambda: f.live_histogram(col))
    hist = f.live_histogram(col)
    s = best(lambda: score(hist, f.reference))
    tot += h+s
    print(f"{f.name:12s} {type(f.bins).__name__:16s} n_bins={f.bins.n_bins:4d} hist {h:6.2f} ms  score {s:5.2f} ms")
print("sum of per-column best", tot)
print("score_columns 1 thread", best(lambda: score_columns(live, profile, pool)))
p2 = ColumnPool(2)
w=[]
for _ in range(9):
    t=time.perf_counter(); score_columns(live, profile, p2); w.append(time.perf_counter()-t)
print("2 threads wall med/min", sorted(w)[4]*1000, min(w)*1000)
