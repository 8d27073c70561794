/*
 * One pass from a chunk of access-log bytes to columns, for text log_formats.
 *
 * parsers/fast_path.py compiles a log_format into a template: literal text and variables,
 * each variable matched the way parsers/log_format.py's regular expression matches it
 * (nginx ngx_http_log_module log_format; escaping as in its "escape=default"). This module
 * walks each line once along that template, greedily (parsers/_tokenizer_walk.c).
 * fast_path.compile_template only builds templates whose every variable has one way to end (no
 * literal after it that its value could also continue into), so the greedy walk matches exactly
 * the lines the regular expression matches, with the same captures.
 *
 * For each line it decides: an event, or one of the reasons it is not (R_* in _tokenizer.h:
 * blank, too long, no match, a time that is no date, a time later than the caller's limit). The
 * caller turns those into quarantine reasons; it looks for two records run together in the
 * lines that do not match.
 *
 * For each event it emits, per variable the caller asks for:
 *   - INTERN: the value's code (uint32) in a dictionary of the chunk's distinct raw values
 *     (still escaped); the dictionary is returned as Arrow large_string buffers;
 *   - TIME_LOCAL / TIME_ISO8601: microseconds since the epoch, UTC (int64), and the logged
 *     UTC offset in minutes (int16);
 *   - STATUS: the three-digit status (int16);
 *   - INT: a non-negative integer (int64) with a validity byte ("-", or a value beyond int64,
 *     is null).
 * Lookups are once per line per variable; everything downstream works per distinct value.
 * The walk runs without the GIL, so two threads tokenize two chunks at once; what it reads
 * meanwhile is held as tokenize() says where it releases the GIL.
 */
#include "_tokenizer.h"

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    if (extra > SIZE_MAX / 2 - b->len) return -1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const void *src, size_t n) {
    /* An empty value adds nothing; memcpy must not see the NULL data of a buffer never grown. */
    if (n == 0) return 0;
    if (buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}
/* A dictionary of distinct byte strings: open addressing over (hash, code). */
typedef struct {
    uint64_t *hashes;
    uint32_t *codes; /* code + 1; 0 = empty slot */
    size_t mask, count;
    Buf data;     /* the values, back to back */
    Buf offsets;  /* int64 offsets into data, count + 1 of them */
} Dict;

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4FULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ (w * 0x87C37B91114253D5ULL)) * 0x4CF5AD432745937FULL;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ (w * 0x87C37B91114253D5ULL)) * 0x4CF5AD432745937FULL;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    return h;
}

static void dict_free(Dict *d) {
    free(d->hashes);
    free(d->codes);
    free(d->data.data);
    free(d->offsets.data);
    memset(d, 0, sizeof(*d));
}

static int dict_init(Dict *d) {
    memset(d, 0, sizeof(*d));
    d->mask = 1023;
    d->hashes = calloc(d->mask + 1, sizeof(uint64_t));
    d->codes = calloc(d->mask + 1, sizeof(uint32_t));
    int64_t zero = 0;
    if (!d->hashes || !d->codes || buf_put(&d->offsets, &zero, sizeof zero)) {
        dict_free(d);
        return -1;
    }
    return 0;
}

static int dict_grow(Dict *d) {
    size_t cap = (d->mask + 1) * 2;
    uint64_t *hashes = calloc(cap, sizeof(uint64_t));
    uint32_t *codes = calloc(cap, sizeof(uint32_t));
    if (!hashes || !codes) {
        free(hashes);
        free(codes);
        return -1;
    }
    for (size_t i = 0; i <= d->mask; i++) {
        if (!d->codes[i]) continue;
        size_t j = d->hashes[i] & (cap - 1);
        while (codes[j]) j = (j + 1) & (cap - 1);
        hashes[j] = d->hashes[i];
        codes[j] = d->codes[i];
    }
    free(d->hashes);
    free(d->codes);
    d->hashes = hashes;
    d->codes = codes;
    d->mask = cap - 1;
    return 0;
}

/* The code of value p[0:n], adding it if new; -1 on allocation failure. */
static int64_t dict_intern(Dict *d, const unsigned char *p, size_t n) {
    uint64_t h = hash_bytes(p, n);
    const int64_t *offsets = (const int64_t *)d->offsets.data;
    size_t i = h & d->mask;
    while (d->codes[i]) {
        if (d->hashes[i] == h) {
            uint32_t code = d->codes[i] - 1;
            int64_t start = offsets[code], end = offsets[code + 1];
            /* n == 0: nothing to compare, and data may still be NULL (only empty values so far). */
            if ((size_t)(end - start) == n && (n == 0 || memcmp(d->data.data + start, p, n) == 0)) return code;
        }
        i = (i + 1) & d->mask;
    }
    if (d->count >= 0xFFFFFFFEu) return -1;
    uint32_t code = (uint32_t)d->count++;
    d->hashes[i] = h;
    d->codes[i] = code + 1;
    if (buf_put(&d->data, p, n)) return -1;
    int64_t end = (int64_t)d->data.len;
    if (buf_put(&d->offsets, &end, sizeof end)) return -1;
    if (d->count * 2 > d->mask + 1 && dict_grow(d)) return -1;
    return code;
}
typedef struct {
    Dict dict;
    Buf codes;     /* uint32 per accepted line (E_INTERN) */
    Buf values;    /* int64 us (E_TIME), int16 (E_STATUS), int64 (E_INT) */
    Buf extra;     /* int16 offset minutes (E_TIME), uint8 validity (E_INT) */
} Output;
typedef struct {
    Buf accepted;   /* uint32 line index (0-based in the chunk) per event */
    Buf rejected;   /* int64 quadruples (line index, start, end, R_* reason) per line that is no event */
    Py_ssize_t lines;
    int failed;     /* allocation failure */
} Result;
static void run(const Template *t, const unsigned char *data, Py_ssize_t size, Output *out, Result *res) {
    const unsigned char *p = data, *end = data + size;
    Spans sp;
    int64_t values[MAX_VARS];
    int16_t aux[MAX_VARS];
    uint32_t index = 0;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *e = nl ? nl : end;
        /* As polars.read_lines reads a file: a line loses one trailing \r. */
        if (e > p && e[-1] == '\r') e--;
        int reason = walk_line(t, p, e, &sp, values, aux);
        if (reason == R_EVENT) {
            if (buf_put(&res->accepted, &index, sizeof index)) goto fail;
            for (int i = 0; i < t->nvars; i++) {
                const Var *v = &t->vars[i];
                Output *o = &out[i];
                if (v->emit == E_INTERN) {
                    int64_t code = dict_intern(&o->dict, sp.start[i], (size_t)(sp.end[i] - sp.start[i]));
                    uint32_t c = (uint32_t)code;
                    if (code < 0 || buf_put(&o->codes, &c, sizeof c)) goto fail;
                } else if (v->emit == E_TIME) {
                    if (buf_put(&o->values, &values[i], 8) || buf_put(&o->extra, &aux[i], 2)) goto fail;
                } else if (v->emit == E_STATUS) {
                    int16_t st = (int16_t)values[i];
                    if (buf_put(&o->values, &st, 2)) goto fail;
                } else if (v->emit == E_INT) {
                    uint8_t valid = (uint8_t)aux[i];
                    if (buf_put(&o->values, &values[i], 8) || buf_put(&o->extra, &valid, 1)) goto fail;
                }
            }
        } else {
            int64_t rejected[4] = {index, p - data, e - data, reason};
            if (buf_put(&res->rejected, rejected, sizeof rejected)) goto fail;
        }
        index++;
        p = nl ? nl + 1 : end;
    }
    res->lines = index;
    return;
fail:
    res->failed = 1;
}

static PyObject *as_bytes(const Buf *b) {
    return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len);
}

PyDoc_STRVAR(tokenize_doc,
"tokenize(data, template, max_line, max_us=2**63-1) -> (lines, accepted, rejected, outputs)\n\n"
"data: a chunk of whole lines (bytes-like, valid UTF-8, under 4 GiB), lines split on b'\\n';\n"
"    a mutable buffer must not change until tokenize returns.\n"
"template: (vars, tail, tail_mode), a tuple; vars is a sequence of (literal: bytes, kind: int,\n"
"    emit: int, stop: int) tuples, one per variable, in order; see parsers/fast_path.py.\n"
"max_line: lines longer than this many bytes are no event (R_TOO_LONG).\n"
"max_us: lines whose time is later (microseconds since the epoch, UTC) are no event (R_FUTURE).\n\n"
"Returns the number of lines; bytes of uint32 indexes of the lines that are events; bytes of\n"
"int64 (index, start, end, reason) quadruples of the other lines (R_EMPTY 1, R_TOO_LONG 2,\n"
"R_NO_MATCH 3, R_INVALID_TIME 4, R_FUTURE 5); and per variable None (E_NONE) or a tuple:\n"
"E_INTERN (codes uint32, offsets int64, data), E_TIME (us int64, offset minutes int16),\n"
"E_STATUS (int16,), E_INT (int64, validity uint8).");

static PyObject *tokenize(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer view;
    PyObject *template;
    Py_ssize_t max_line;
    long long max_us = INT64_MAX;
    if (!PyArg_ParseTuple(args, "y*On|L", &view, &template, &max_line, &max_us)) return NULL;
    PyObject *result = NULL, *vars = NULL, *held = NULL;
    Template t;
    memset(&t, 0, sizeof t);
    t.max_line = max_line;
    t.max_us = (int64_t)max_us;
    Output out[MAX_VARS];
    memset(out, 0, sizeof out);
    Result res;
    memset(&res, 0, sizeof res);
    PyObject *tail;
    if (view.len >= (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a chunk must be under 4 GiB (line indexes are uint32)");
        goto done;
    }
    if (!PyTuple_Check(template)) {
        PyErr_SetString(PyExc_TypeError, "template must be a tuple (vars, tail, tail_mode)");
        goto done;
    }
    if (!PyArg_ParseTuple(template, "OSi", &vars, &tail, &t.tail_mode)) goto done;
    /* A tuple of its own: the caller's sequence (a list, say) may change while the GIL is released. */
    held = PySequence_Tuple(vars);
    if (!held) goto done;
    if (PyTuple_GET_SIZE(held) > MAX_VARS) {
        PyErr_Format(PyExc_ValueError, "at most %d variables", MAX_VARS);
        goto done;
    }
    t.nvars = (int)PyTuple_GET_SIZE(held);
    t.tail = (const unsigned char *)PyBytes_AS_STRING(tail);
    t.tail_len = PyBytes_GET_SIZE(tail);
    if (t.tail_mode == T_OPTIONAL_QUOTE && t.tail_len < 1) {
        PyErr_SetString(PyExc_ValueError, "an optional closing quote needs a tail ending in a quote");
        goto done;
    }
    for (int i = 0; i < t.nvars; i++) {
        PyObject *lit, *item = PyTuple_GET_ITEM(held, i);
        Var *v = &t.vars[i];
        if (!PyTuple_Check(item)) {
            PyErr_Format(PyExc_TypeError, "variable %d: a (literal, kind, emit, stop) tuple", i);
            goto done;
        }
        if (!PyArg_ParseTuple(item, "Siii", &lit, &v->kind, &v->emit, &v->stop)) goto done;
        v->lit = (const unsigned char *)PyBytes_AS_STRING(lit);
        v->lit_len = PyBytes_GET_SIZE(lit);
        if (v->kind < K_UNTIL || v->kind > K_UPSTREAM || (v->kind == K_UNTIL && (v->stop < 0 || v->stop > 255))) {
            PyErr_Format(PyExc_ValueError, "variable %d: bad kind %d / stop %d", i, v->kind, v->stop);
            goto done;
        }
        if ((v->emit == E_TIME && v->kind != K_TIME_LOCAL && v->kind != K_TIME_ISO) ||
            (v->emit == E_STATUS && v->kind != K_STATUS) || (v->emit == E_INT && v->kind != K_INT) ||
            v->emit < E_NONE || v->emit > E_INT) {
            PyErr_Format(PyExc_ValueError, "variable %d: emit %d does not fit kind %d", i, v->emit, v->kind);
            goto done;
        }
        if (v->emit == E_INTERN && dict_init(&out[i].dict)) {
            PyErr_NoMemory();
            goto done;
        }
    }
    /*
     * Without the GIL, run() reads only memory that nothing can free or move meanwhile:
     * - view.buf: the Py_buffer holds data's export until PyBuffer_Release below (bytes are
     *   immutable; an exported bytearray cannot be resized, an exported mmap cannot be closed);
     * - t.vars[i].lit: the contents of bytes objects inside the tuples of `held`, a tuple this
     *   call owns (tuples and bytes are immutable, so nothing another thread does to `vars`
     *   frees them); released after the region;
     * - t.tail: the contents of a bytes object in `template`, a tuple held by `args`, which the
     *   interpreter holds for the whole call;
     * - t, out, res: this call's stack and its malloc'ed buffers, touched by no Python code.
     */
    Py_BEGIN_ALLOW_THREADS
    run(&t, (const unsigned char *)view.buf, view.len, out, &res);
    Py_END_ALLOW_THREADS
    if (res.failed) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *outputs = PyTuple_New(t.nvars);
    if (!outputs) goto done;
    for (int i = 0; i < t.nvars; i++) {
        PyObject *item;
        Output *o = &out[i];
        switch (t.vars[i].emit) {
        case E_INTERN:
            item = Py_BuildValue("(NNN)", as_bytes(&o->codes), as_bytes(&o->dict.offsets), as_bytes(&o->dict.data));
            break;
        case E_TIME:
        case E_INT:
            item = Py_BuildValue("(NN)", as_bytes(&o->values), as_bytes(&o->extra));
            break;
        case E_STATUS:
            item = Py_BuildValue("(N)", as_bytes(&o->values));
            break;
        default:
            item = Py_NewRef(Py_None);
        }
        if (!item) {
            Py_DECREF(outputs);
            goto done;
        }
        PyTuple_SET_ITEM(outputs, i, item);
    }
    result = Py_BuildValue("(nNNN)", res.lines, as_bytes(&res.accepted), as_bytes(&res.rejected), outputs);
done:
    for (int i = 0; i < MAX_VARS; i++) {
        dict_free(&out[i].dict);
        free(out[i].codes.data);
        free(out[i].values.data);
        free(out[i].extra.data);
    }
    free(res.accepted.data);
    free(res.rejected.data);
    Py_XDECREF(held);
    PyBuffer_Release(&view);
    return result;
}

PyDoc_STRVAR(factorize_doc,
"factorize(keys) -> (codes, uniques)\n\n"
"keys: a buffer of uint64 (native byte order, any alignment, fewer than 2**32 keys; a mutable\n"
"buffer must not change until factorize returns). Returns bytes of uint32 codes, one per key,\n"
"and bytes of the distinct keys as uint64 in order of first appearance:\n"
"uniques[codes[i]] == keys[i]. Raises ValueError when the buffer's length is not a multiple\n"
"of 8. Used to key per-distinct-value work on combinations of codes (visitor, session).");

static PyObject *factorize(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    PyObject *result = NULL;
    uint64_t *slots = NULL, *uniques = NULL;
    uint32_t *slot_codes = NULL, *codes = NULL;
    if (view.len % 8) {
        PyErr_Format(PyExc_ValueError, "keys must be whole uint64 values, not %zd bytes", view.len);
        goto done;
    }
    Py_ssize_t n = view.len / 8;
    if ((uint64_t)n >= UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "at most 2**32 - 2 keys (codes are uint32)");
        goto done;
    }
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    slots = malloc(cap * sizeof(uint64_t));
    slot_codes = calloc(cap, sizeof(uint32_t)); /* code + 1; 0 = empty */
    codes = malloc((n ? n : 1) * sizeof(uint32_t));
    uniques = malloc((n ? n : 1) * sizeof(uint64_t));
    if (!slots || !slot_codes || !codes || !uniques) {
        PyErr_NoMemory();
        goto done;
    }
    const unsigned char *keys = view.buf;
    uint32_t count = 0;
    /*
     * Without the GIL this reads view.buf, which the Py_buffer holds until PyBuffer_Release
     * below, and writes only this call's malloc'ed arrays.
     */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        /* The keys may sit at any address (a slice of a buffer): one unaligned-safe load each. */
        uint64_t k;
        memcpy(&k, keys + 8 * i, sizeof k);
        uint64_t h = k * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
        size_t j = h & (cap - 1);
        while (slot_codes[j] && slots[j] != k) j = (j + 1) & (cap - 1);
        if (!slot_codes[j]) {
            slots[j] = k;
            slot_codes[j] = ++count;
            uniques[count - 1] = k;
        }
        codes[i] = slot_codes[j] - 1;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(y#y#)", (const char *)codes, (Py_ssize_t)(n * 4), (const char *)uniques,
                           (Py_ssize_t)count * 8);
done:
    free(slots);
    free(slot_codes);
    free(codes);
    free(uniques);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"tokenize", tokenize, METH_VARARGS, tokenize_doc},
    {"factorize", factorize, METH_VARARGS, factorize_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tokenizer", "Compiled access-log tokenizer.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tokenizer(void) { return PyModule_Create(&module); }

