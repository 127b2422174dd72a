import sys, time
import numpy as np, pyarrow as pa, pyarrow.compute as pc, pandas as pd
from numba import njit

M1 = np.uint64(0x9E3779B97F4A7C15)

@njit(nogil=True, cache=True, inline="always")
def _load(words, data, p, nbytes):
    # nbytes in 1..8 bytes starting at byte p, little-endian, upper bytes zero
    if p < words.size:
        w = words[p]
        if nbytes < 8:
            w &= (np.uint64(1) << np.uint64(8 * nbytes)) - np.uint64(1)
        return w
    w = np.uint64(0)
    for k in range(nbytes):
        w |= np.uint64(data[p + k]) << np.uint64(8 * k)
    return w

@njit(nogil=True, cache=True, inline="always")
def _hash(words, data, s, e):
    h = np.uint64(e - s)
    p = s
    while p < e:
        nb = min(8, e - p)
        h = (h ^ _load(words, data, p, nb)) * np.uint64(0x9E3779B97F4A7C15)
        p += 8
    h ^= h >> np.uint64(32)
    h *= np.uint64(0x9E3779B97F4A7C15)
    return h >> np.uint64(32)

@njit(nogil=True, cache=True)
def count_kernel(offsets, words, data, valid, has_valid, off0, n, cat_off, cat_words, cat_data, table, mask, counts):
    K = counts.size - 2
    for i in range(n):
        j = i + off0
        if has_valid and not ((valid[j >> 3] >> (j & 7)) & 1):
            counts[K + 1] += 1
            continue
        s = offsets[j]; e = offsets[j + 1]
        h = _hash(words, data, s, e)
        slot = np.int64(h & np.uint64(mask))
        while True:
            c = table[slot]
            if c < 0:
                counts[K] += 1
                break
            cs = cat_off[c]; ce = cat_off[c + 1]
            if ce - cs == e - s:
                same = True
                p = s; q = cs
                while p < e:
                    nb = min(8, e - p)
                    if _load(words, data, p, nb) != _load(cat_words, cat_data, q, nb):
                        same = False
                        break
                    p += 8; q += 8
                if same:
                    counts[c] += 1
                    break
            slot = (slot + 1) & mask

def word_view(data):
    if data.size < 8:
        return np.zeros(0, np.uint64)
    return np.ndarray(shape=(data.size - 7,), dtype=np.uint64, buffer=data, strides=(1,))

def build_table(cats):
    enc = [c.encode() for c in cats]
    cat_off = np.zeros(len(enc)+1, np.int64); cat_off[1:] = np.cumsum([len(b) for b in enc])
    cat_data = np.frombuffer(b"".join(enc) + b"\0"*8, np.uint8)
    cw = word_view(cat_data)
    size = 1
    while size < 2*len(enc)+2: size*=2
    table = np.full(size, -1, np.int64)
    for i in range(len(enc)):
        h = _hash(cw, cat_data, cat_off[i], cat_off[i+1])
        slot = int(h) & (size-1)
        while table[slot] >= 0: slot = (slot+1)&(size-1)
        table[slot]=i
    return cat_off, cw, cat_data, table, size-1

def kernel_hist(arr, cats, tab):
    validb, offb, datab = arr.buffers()
    odt = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(offb, odt)
    data = np.frombuffer(datab, np.uint8) if datab is not None else np.zeros(1, np.uint8)
    valid = np.frombuffer(validb, np.uint8) if validb is not None else np.zeros(1, np.uint8)
    counts = np.zeros(len(cats)+2, np.int64)
    count_kernel(offsets, word_view(data), data, valid, validb is not None, arr.offset, len(arr), *tab, counts)
    return counts

