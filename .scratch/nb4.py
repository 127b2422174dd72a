import time, numpy as np, pyarrow as pa
import kern2
rng=np.random.default_rng(0)
vals = np.array([f"{chr(97+i%26)}_category_{i:05d}" for i in range(500)], dtype=object)
arr = pa.array(vals[rng.integers(0,500,1_000_000)], type=pa.large_string())
validb, offb, datab = arr.buffers()
offsets=np.frombuffer(offb,np.int64); data=np.frombuffer(datab,np.uint8)
words=kern2.word_view(data)
def best(fn, n=7):
    ts=[]
    for _ in range(n):
        t=time.perf_counter(); fn(); ts.append(time.perf_counter()-t)
    return min(ts)*1000
n=len(arr)
cats=list(vals[:50]); tab=kern2.build_table(cats)
counts=np.zeros(52,np.int64)
valid=np.zeros(1,np.uint8)
f=lambda: kern2.count_kernel(offsets, words, data, valid, False, 0, n, *tab, counts); f(); print("full", best(f))
counts[:]=0; f()
import pyarrow.compute as pc
vc = pc.value_counts(arr)
d = dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()))
exp = [d.get(c,0) for c in cats]; print(list(counts[:50])==exp, counts[50], n-sum(exp))
print("arrow value_counts", best(lambda: pc.value_counts(arr)))
