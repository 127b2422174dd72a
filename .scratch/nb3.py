import time, numpy as np, pyarrow as pa
from numba import njit
rng=np.random.default_rng(0)
vals = np.array([f"{chr(97+i%26)}_category_{i:05d}" for i in range(500)], dtype=object)
arr = pa.array(vals[rng.integers(0,500,1_000_000)], type=pa.large_string())
validb, offb, datab = arr.buffers()
offsets=np.frombuffer(offb,np.int64); data=np.frombuffer(datab,np.uint8)
words=np.ndarray(shape=(data.size-7,), dtype=np.uint64, buffer=data, strides=(1,))
@njit(nogil=True)
def k1(offsets, words, n):
    acc=np.uint64(0)
    for j in range(n):
        acc += words[offsets[j]]
    return acc
@njit(nogil=True)
def k2(offsets, data, n):
    acc=np.uint64(0)
    for j in range(n):
        s=offsets[j]
        for k in range(s, offsets[j+1]):
            acc += np.uint64(data[k])
    return acc
@njit(nogil=True)
def k0(offsets, n):
    acc=np.int64(0)
    for j in range(n):
        acc += offsets[j+1]-offsets[j]
    return acc
def best(fn, n=7):
    ts=[]
    for _ in range(n):
        t=time.perf_counter(); fn(); ts.append(time.perf_counter()-t)
    return min(ts)*1000
n=len(arr)
for name,f in [("k0",lambda: k0(offsets,n)),("k1 words",lambda: k1(offsets,words,n)),("k2 bytes",lambda: k2(offsets,data,n))]:
    f(); print(name, best(f))
print(words.flags)

import kern
@njit(nogil=True)
def khash(offsets, words, data, n):
    acc=np.uint64(0)
    for j in range(n):
        acc ^= kern._hash(words, data, offsets[j], offsets[j+1])
    return acc
f=lambda: khash(offsets, words, data, n); f(); print("hash only", best(f))
cats=list(vals[:50]); tab=kern.build_table(cats)
counts=np.zeros(52,np.int64)
valid=np.zeros(1,np.uint8)
f=lambda: kern.count_kernel(offsets, words, data, valid, False, 0, n, *tab, counts); f(); print("full", best(f))
