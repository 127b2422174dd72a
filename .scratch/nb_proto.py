import sys, time
sys.path.insert(0, "benchmarks")
import numpy as np, pyarrow as pa, pyarrow.compute as pc, pandas as pd
import bench_engine as be
from driftmon.core.columns import profile_columns
from driftmon.core.parallel import ColumnPool
from driftmon.core.histogram import categorical_histogram
t0=time.perf_counter()
import numba
from numba import njit
print("import numba", time.perf_counter()-t0)

@njit(nogil=True, cache=True)
def _hash(data, s, e):
    h = np.int64(-3750763034362895579)
    for k in range(s, e):
        h = (h ^ np.int64(data[k])) * np.int64(1099511628211)
    return h

@njit(nogil=True, cache=True)
def count_kernel(offsets, data, valid, has_valid, off0, n, cat_off, cat_data, table, mask, counts):
    K = counts.size - 2
    for i in range(n):
        j = i + off0
        if has_valid and not ((valid[j >> 3] >> (j & 7)) & 1):
            counts[K + 1] += 1
            continue
        s = offsets[j]; e = offsets[j + 1]
        h = np.int64(-3750763034362895579)
        for k in range(s, e):
            h = (h ^ np.int64(data[k])) * np.int64(1099511628211)
        slot = h & mask
        while True:
            c = table[slot]
            if c < 0:
                counts[K] += 1
                break
            cs = cat_off[c]; ce = cat_off[c + 1]
            if ce - cs == e - s:
                same = True
                for k in range(e - s):
                    if cat_data[cs + k] != data[s + k]:
                        same = False
                        break
                if same:
                    counts[c] += 1
                    break
            slot = (slot + 1) & mask

def build_table(cats):
    enc = [c.encode() for c in cats]
    cat_off = np.zeros(len(enc)+1, np.int64); cat_off[1:] = np.cumsum([len(b) for b in enc])
    cat_data = np.frombuffer(b"".join(enc) or b"\0", np.uint8)
    size = 1
    while size < 2*len(enc)+2: size*=2
    table = np.full(size, -1, np.int64)
    for i,b in enumerate(enc):
        h = _hash(np.frombuffer(b or b"\0", np.uint8), 0, len(b))
        slot = int(h) & (size-1)
        while table[slot] >= 0: slot = (slot+1)&(size-1)
        table[slot]=i
    return cat_off, cat_data, table, size-1

def kernel_hist(arr, cats, tab):
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    validb, offb, datab = arr.buffers()
    odt = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(offb, odt)
    data = np.frombuffer(datab, np.uint8) if datab is not None else np.zeros(1, np.uint8)
    valid = np.frombuffer(validb, np.uint8) if validb is not None else np.zeros(1, np.uint8)
    counts = np.zeros(len(cats)+2, np.int64)
    count_kernel(offsets, data, valid, validb is not None, arr.offset, len(arr), *tab, counts)
    return counts

rows=1_000_000
specs = be.feature_specs()
ref = be.make_frame(rows, be.SEED, live=False)
live = be.make_frame(rows, be.SEED, live=True)
profile = profile_columns(ref, specs, ColumnPool(1))
def best(fn, n=9):
    ts=[]
    for _ in range(n):
        t=time.process_time(); fn(); ts.append(time.process_time()-t)
    return min(ts)*1000
for f in profile.features:
    if not f.name.startswith("cat"): continue
    col = live[f.name]
    arr = pa.array(col)
    cats = f.bins.categories
    tab = build_table(cats)
    t=time.perf_counter(); k = kernel_hist(arr, cats, tab); c1=time.perf_counter()-t
    ref_h = categorical_histogram(col, f.bins).counts
    # bins layout: categories..., other, missing ?
    print(f.name, "first call", round(c1*1000,1), "ms", "n_bins", f.bins.n_bins, "other", f.bins.other_index, "missing", f.bins.missing_index)
    mine = np.zeros(f.bins.n_bins, np.int64); mine[:len(cats)] = k[:len(cats)]; mine[f.bins.other_index]+=k[-2]; mine[f.bins.missing_index]+=k[-1]
    assert (mine == ref_h).all(), (mine, ref_h)
    print("  current", round(best(lambda: categorical_histogram(col, f.bins)),2), "kernel", round(best(lambda: kernel_hist(arr, cats, tab)),2), "pa.array", round(best(lambda: pa.array(col)),3))

f = [f for f in profile.features if f.name=="cat_50"][0]
arr = pa.array(live[f.name]); print(type(arr), arr.type, getattr(arr,'num_chunks',None)); arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
print(arr[:5])
cats=f.bins.categories; tab=build_table(cats)
validb, offb, datab = arr.buffers()
offsets = np.frombuffer(offb, np.int64); data=np.frombuffer(datab, np.uint8); valid=np.frombuffer(validb, np.uint8)
counts=np.zeros(len(cats)+2,np.int64)
print("kernel only", best(lambda: count_kernel(offsets, data, valid, True, arr.offset, len(arr), *tab, counts)))
pass
print(count_kernel.signatures)
