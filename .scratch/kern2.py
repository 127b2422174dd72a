import numpy as np
from numba import njit

@njit(nogil=True, cache=True, inline="always")
def _load(words, data, p, nbytes):
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
def _hash(words, data, s, e, seed):
    h = np.uint64(e - s) ^ seed
    p = s
    while p < e:
        nb = min(8, e - p)
        h = (h ^ _load(words, data, p, nb)) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(32)
        p += 8
    return h * np.uint64(0xD6E8FEB86659FD93)

@njit(nogil=True, cache=True)
def count_kernel(offsets, words, data, valid, has_valid, off0, n, cat_off, cat_words, cat_data, cat_hash, table, shift, seed, counts):
    K = counts.size - 2
    sh = np.uint64(shift)
    for i in range(n):
        j = i + off0
        if has_valid and not ((valid[j >> 3] >> (j & 7)) & 1):
            counts[K + 1] += 1
            continue
        s = offsets[j]; e = offsets[j + 1]
        h = _hash(words, data, s, e, seed)
        c = table[np.int64(h >> sh)]
        hit = K
        if cat_hash[c] == h:
            cs = cat_off[c]
            if cat_off[c + 1] - cs == e - s:
                hit = c
                p = s; q = cs
                while p < e:
                    nb = min(8, e - p)
                    if _load(words, data, p, nb) != _load(cat_words, cat_data, q, nb):
                        hit = K
                        break
                    p += 8; q += 8
        counts[hit] += 1

def word_view(data):
    if data.size < 8:
        return np.zeros(0, np.uint64)
    return np.ndarray(shape=(data.size - 7,), dtype=np.uint64, buffer=data, strides=(1,))

def build_table(cats):
    enc = [c.encode() for c in cats]
    K = len(enc)
    cat_off = np.zeros(K+1, np.int64); cat_off[1:] = np.cumsum([len(b) for b in enc])
    cat_data = np.frombuffer(b"".join(enc) + b"\0"*8, np.uint8)
    cw = word_view(cat_data)
    bits = max(4, (4*K).bit_length())
    rng = np.random.default_rng(1)
    while True:
        for _ in range(8):
            seed = np.uint64(rng.integers(0, 2**63))
            hs = np.array([_hash(cw, cat_data, cat_off[i], cat_off[i+1], seed) for i in range(K)], dtype=np.uint64)
            slots = (hs >> np.uint64(64-bits)).astype(np.int64)
            if np.unique(slots).size == K:
                table = np.full(1 << bits, K, np.int64)  # K: a sentinel entry whose hash never matches? use extra
                table[slots] = np.arange(K)
                cat_hash = np.empty(K + 1, np.uint64); cat_hash[:K] = hs
                # sentinel: a hash no row could map to slot-empty... choose hs of slot mismatch
                cat_hash[K] = np.uint64(0)
                off = np.append(cat_off, cat_off[-1])
                return off, cw, cat_data, cat_hash, table, 64-bits, seed
        bits += 1
