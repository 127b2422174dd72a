/* Exact counts of a text column against a fixed set of categories, in one pass.
 *
 * Arrow's value_counts spends ~12 ns a row in its generic memo table, whatever the keys;
 * matching each row against the few categories of a reference layout needs less (~6 ns): a
 * hash of the row's length and its first and last eight bytes into a small open-addressing
 * table of the categories, whose slots hold the same three words (the bytes in between
 * are compared only for texts over 16 bytes). The loop runs without the GIL, so the
 * column pool's other thread counts meanwhile. count_objects does the same for an object
 * column of str (holding the GIL: it reads the objects). driftmon/core/textmatch.py is the
 * only caller and keeps the rules (which columns, which categories); this file only counts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The lookup is inlined into each of its loops: called from three places, GCC would
 * otherwise keep it out of line and the text loop would take ~25 % longer. */
#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE static inline
#endif

ALWAYS_INLINE uint64_t load_le(const uint8_t *p, int64_t n) {
    uint64_t w = 0;
    if (n >= 8)
        memcpy(&w, p, 8); /* one load */
    else
        memcpy(&w, p, (size_t)n);
    return w; /* little-endian hosts: the first byte is the low byte; any order hashes */
}

/* A text's length and its first and last eight bytes (zero-padded when shorter; "last"
 * is zero up to eight bytes, where "first" holds them all) tell most texts apart; a hit
 * on all three compares only the bytes in between. */
typedef struct {
    uint64_t first, last;
    int64_t len;
} Key;

ALWAYS_INLINE Key text_key(const uint8_t *p, int64_t len) {
    Key k = {load_le(p, len), len > 8 ? load_le(p + len - 8, 8) : 0, len};
    return k;
}

ALWAYS_INLINE uint64_t key_hash(Key k) {
    /* MurmurHash3's finalizer: every input bit moves the low bits the table uses. */
    uint64_t h = k.first ^ (k.last * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)k.len;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
}

typedef struct {
    Key key;
    int64_t category; /* index + 1; 0 = empty slot */
} Slot;

typedef struct {
    Slot *slots;
    uint64_t mask;
    const int64_t *cat_offsets;
    const uint8_t *cat_data;
} Table;

ALWAYS_INLINE int same_text(Key a, Key b, const uint8_t *pa, const uint8_t *pb) {
    return a.first == b.first && a.last == b.last && a.len == b.len &&
           (a.len <= 16 || memcmp(pa + 8, pb + 8, (size_t)(a.len - 16)) == 0);
}

static int table_build(Table *t, Py_ssize_t n_cats, const int64_t *cat_offsets,
                       const uint8_t *cat_data) {
    uint64_t size = 16;
    while (size < 8 * (uint64_t)n_cats) size <<= 1; /* an eighth full: mostly one probe */
    t->slots = calloc(size, sizeof(Slot));
    if (t->slots == NULL) return -1;
    t->mask = size - 1;
    t->cat_offsets = cat_offsets;
    t->cat_data = cat_data;
    for (Py_ssize_t c = 0; c < n_cats; c++) {
        const uint8_t *p = cat_data + cat_offsets[c];
        Key k = text_key(p, cat_offsets[c + 1] - cat_offsets[c]);
        uint64_t h = key_hash(k) & t->mask;
        for (;;) {
            Slot *s = &t->slots[h];
            if (s->category == 0) {
                s->key = k;
                s->category = c + 1;
                break;
            }
            if (same_text(s->key, k, cat_data + cat_offsets[s->category - 1], p))
                break; /* a repeated category keeps its first index, as index_in does */
            h = (h + 1) & t->mask;
        }
    }
    return 0;
}

/* Index of the category of a text longer than 16 bytes, or -1: a slot with its key holds
 * its category only if the bytes in between agree too. */
static int64_t table_find_long(const Table *t, Key k, const uint8_t *p) {
    uint64_t h = key_hash(k) & t->mask;
    for (;;) {
        const Slot *s = &t->slots[h];
        if (s->category == 0) return -1;
        if (s->key.first == k.first && s->key.last == k.last && s->key.len == k.len &&
            memcmp(t->cat_data + t->cat_offsets[s->category - 1] + 8, p + 8,
                   (size_t)(k.len - 16)) == 0)
            return s->category - 1;
        h = (h + 1) & t->mask;
    }
}

/* Index of the category spelled p[0:len], or -1. Whether a row hits or misses is data, a
 * coin toss to the branch predictor: for the usual row (a text of at most 16 bytes whose
 * first slot holds its category or is empty) arithmetic decides it, and every branch
 * taken goes the same way for every such row. */
ALWAYS_INLINE int64_t table_find(const Table *t, const uint8_t *p, int64_t len) {
    Key k = text_key(p, len);
    if (len > 16) return table_find_long(t, k, p);
    uint64_t h = key_hash(k) & t->mask;
    for (;;) {
        const Slot *s = &t->slots[h];
        int64_t category = s->category;
        uint64_t diff = (s->key.first ^ k.first) | (s->key.last ^ k.last) |
                        (uint64_t)(s->key.len ^ k.len);
        uint64_t occupied = -(uint64_t)(category != 0);
        if ((diff & occupied) == 0) { /* the key's slot, or an empty one */
            /* An empty slot's key is the empty text's, and its category - 1 is -1. */
            uint64_t same = -(uint64_t)(diff == 0);
            return (category - 1) | (int64_t)~same;
        }
        h = (h + 1) & t->mask;
    }
}

/* Count slots [first, first + length) into tally ([0]: no category, [c + 1]: category c)
 * and return the null slots, or -1 - r for the first slot r whose offsets leave the data. */
#define DEFINE_COUNT_ROWS(NAME, OFFSET_T)                                                    \
    static int64_t NAME(const Table *table, const OFFSET_T *offs, const uint8_t *data,       \
                        int64_t data_len, const uint8_t *valid, int64_t first,               \
                        int64_t length, int64_t *tally) {                                    \
        int64_t missing = 0;                                                                 \
        offs += first;                                                                       \
        for (int64_t r = 0; r < length; r++) {                                               \
            if (valid != NULL && !((valid[(first + r) >> 3] >> ((first + r) & 7)) & 1)) {   \
                missing++;                                                                   \
                continue;                                                                    \
            }                                                                                \
            int64_t s = (int64_t)offs[r], e = (int64_t)offs[r + 1];                          \
            if (s < 0 || s > e || e > data_len) return -1 - r;                                 \
            tally[table_find(table, data + s, e - s) + 1]++;                                 \
        }                                                                                    \
        return missing;                                                                      \
    }

DEFINE_COUNT_ROWS(count_rows_32, int32_t)
DEFINE_COUNT_ROWS(count_rows_64, int64_t)

/* The categories' table and a zeroed tally ([0]: no category, [c + 1]: category c) for
 * the caller's buffers, after checking they agree; -1 with an exception set if not. */
static int prepare(Table *table, int64_t **tally, const Py_buffer *cat_offsets,
                   const Py_buffer *cat_data, const Py_buffer *counts) {
    Py_ssize_t n_cats = counts->len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *offs = (const int64_t *)cat_offsets->buf;
    if (counts->len % (Py_ssize_t)sizeof(int64_t) != 0 ||
        cat_offsets->len != (n_cats + 1) * (Py_ssize_t)sizeof(int64_t) ||
        n_cats >= INT64_MAX / 4 || offs[0] != 0) {
        PyErr_SetString(PyExc_ValueError, "counts and cat_offsets disagree on the categories");
        return -1;
    }
    for (Py_ssize_t c = 0; c < n_cats; c++) {
        if (offs[c + 1] < offs[c] || offs[c + 1] > cat_data->len) {
            PyErr_SetString(PyExc_ValueError, "cat_offsets beyond cat_data");
            return -1;
        }
    }
    *tally = calloc((size_t)n_cats + 1, sizeof(int64_t));
    if (*tally == NULL || table_build(table, n_cats, offs, (const uint8_t *)cat_data->buf) < 0) {
        free(*tally);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Add the tally to counts, free both of prepare's allocations, and return
 * (rows matching no category, null rows). */
static PyObject *finish(Table *table, int64_t *tally, Py_buffer *counts, int64_t missing) {
    Py_ssize_t n_cats = counts->len / (Py_ssize_t)sizeof(int64_t);
    int64_t *out = (int64_t *)counts->buf, other = tally[0];
    for (Py_ssize_t c = 0; c < n_cats; c++) out[c] += tally[c + 1];
    free(tally);
    free(table->slots);
    return Py_BuildValue("LL", (long long)other, (long long)missing);
}

PyDoc_STRVAR(count_doc,
"count(offsets, offset_size, data, validity, first, length, cat_offsets, cat_data, counts)\n"
"\n"
"Add each category's rows among the Arrow text slots [first, first + length) to counts\n"
"(int64, one per category) and return (rows matching no category, null rows).\n"
"offsets, data and validity (or None) are the array's buffers; offset_size is 4 (string)\n"
"or 8 (large_string); cat_offsets (int64, one more than the categories) and cat_data\n"
"spell the categories in UTF-8.");

static PyObject *count(PyObject *self, PyObject *args) {
    Py_buffer offsets = {0}, data = {0}, validity = {0}, cat_offsets = {0}, cat_data = {0};
    Py_buffer counts = {0};
    PyObject *validity_obj, *result = NULL;
    int offset_size;
    Py_ssize_t first, length;
    if (!PyArg_ParseTuple(args, "y*iy*Onny*y*w*", &offsets, &offset_size, &data, &validity_obj,
                          &first, &length, &cat_offsets, &cat_data, &counts))
        return NULL;
    int has_validity = validity_obj != Py_None;
    if (has_validity && PyObject_GetBuffer(validity_obj, &validity, PyBUF_SIMPLE) < 0)
        goto done;
    if (offset_size != 4 && offset_size != 8) {
        PyErr_SetString(PyExc_ValueError, "offset_size must be 4 or 8");
        goto done;
    }
    if (first < 0 || length < 0 || offsets.len / offset_size < first + length + 1 ||
        (has_validity && validity.len * 8 < first + length)) {
        PyErr_SetString(PyExc_ValueError, "slots beyond the array's buffers");
        goto done;
    }
    Table table;
    int64_t *tally, missing;
    if (prepare(&table, &tally, &cat_offsets, &cat_data, &counts) < 0) goto done;
    const uint8_t *data_ptr = (const uint8_t *)data.buf;
    const uint8_t *valid = has_validity ? (const uint8_t *)validity.buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (offset_size == 4)
        missing = count_rows_32(&table, (const int32_t *)offsets.buf, data_ptr, data.len, valid,
                                first, length, tally);
    else
        missing = count_rows_64(&table, (const int64_t *)offsets.buf, data_ptr, data.len, valid,
                                first, length, tally);
    Py_END_ALLOW_THREADS
    if (missing < 0) { /* counts stay as they were */
        free(tally);
        free(table.slots);
        PyErr_Format(PyExc_ValueError, "slot %lld's offsets lie outside the data buffer",
                     (long long)(first - 1 - missing));
        goto done;
    }
    result = finish(&table, tally, &counts, missing);

done:
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    if (has_validity) PyBuffer_Release(&validity);
    PyBuffer_Release(&cat_offsets);
    PyBuffer_Release(&cat_data);
    PyBuffer_Release(&counts);
    return result;
}

PyDoc_STRVAR(count_objects_doc,
"count_objects(address, n, cat_offsets, cat_data, counts)\n"
"\n"
"As count, for n Python objects whose pointers start at address (an object ndarray's data,\n"
"kept alive by the caller): exact str rows are matched by their UTF-8 bytes, None and float\n"
"NaN are null rows. Returns None, counting nothing, at the first row of any other kind (a\n"
"number, pd.NA, a str subclass, a str that is not valid UTF-8): its rule is the caller's.");

static PyObject *count_objects(PyObject *self, PyObject *args) {
    Py_buffer cat_offsets = {0}, cat_data = {0}, counts = {0};
    Py_ssize_t address, n;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "nny*y*w*", &address, &n, &cat_offsets, &cat_data, &counts))
        return NULL;
    if (n < 0 || (n > 0 && address == 0)) {
        PyErr_SetString(PyExc_ValueError, "no objects at that address");
        goto done;
    }
    Table table;
    int64_t *tally, missing = 0;
    if (prepare(&table, &tally, &cat_offsets, &cat_data, &counts) < 0) goto done;
    PyObject *const *objects = (PyObject *const *)address;
    int declined = 0;
    for (Py_ssize_t r = 0; r < n && !declined; r++) {
        PyObject *o = objects[r];
        if (PyUnicode_CheckExact(o) && PyUnicode_IS_COMPACT_ASCII(o)) {
            /* its characters are its UTF-8 bytes */
            tally[table_find(&table, (const uint8_t *)PyUnicode_DATA(o),
                             PyUnicode_GET_LENGTH(o)) + 1]++;
        } else if (PyUnicode_CheckExact(o)) {
            /* A transient copy: PyUnicode_AsUTF8 would keep one in every object. */
            PyObject *utf8 = PyUnicode_AsUTF8String(o);
            if (utf8 == NULL) { /* lone surrogates: not text Arrow can hold */
                PyErr_Clear();
                declined = 1;
                continue;
            }
            tally[table_find(&table, (const uint8_t *)PyBytes_AS_STRING(utf8),
                             PyBytes_GET_SIZE(utf8)) + 1]++;
            Py_DECREF(utf8);
        } else if (o == Py_None || (PyFloat_Check(o) && isnan(PyFloat_AS_DOUBLE(o)))) {
            missing++;
        } else {
            declined = 1; /* the caller's rule counts this column */
        }
    }
    if (declined) {
        free(tally);
        free(table.slots);
        result = Py_NewRef(Py_None);
    } else {
        result = finish(&table, tally, &counts, missing);
    }

done:
    PyBuffer_Release(&cat_offsets);
    PyBuffer_Release(&cat_data);
    PyBuffer_Release(&counts);
    return result;
}

static PyMethodDef methods[] = {
    {"count", count, METH_VARARGS, count_doc},
    {"count_objects", count_objects, METH_VARARGS, count_objects_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_textmatch",
    "Exact counts of Arrow text against a layout's categories (driftmon.core.textmatch).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__textmatch(void) { return PyModule_Create(&module); }
