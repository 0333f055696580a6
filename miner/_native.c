/* Per-document loops of the miner in C, each computing exactly what its Python definition does
 * (tests compare the two on every kind of text). Optional: where this is not built, dedup.py and
 * langid.py run their Python definitions.
 *
 *   signature(text: str, ngram: int, unsegmented: bool, a: bytes, b: bytes) -> bytes
 *       The `poly64/affine32` MinHash signature (dedup.py: `shingle_hashes`, then the
 *       permutations' minima) in one pass, without the num_perm x shingles temporaries. `a` and
 *       `b` hold num_perm little-endian uint32 multipliers and offsets; the result num_perm
 *       little-endian uint32 minima, all 0xFF for a text without shingles.
 *   lid_window(text: str, max_chars: int) -> str
 *       " ".join(text[:max_chars].split())
 *   lid_sample(text: str, max_chars: int, sample_chars: int, run: int) -> str | None
 *       langid.py's `sample_of(text[:max_chars].split(), sample_chars, run)`.
 *   map_code_points(text: str, table: buffer, filled: buffer) -> str | None
 *       dedup.py's `_collapse_spaces(table[codes])` as a string: each code point through `table`
 *       (little-endian uint32), runs of spaces as one, none at the ends. None where a code point
 *       is a surrogate or its block of 256 is not yet `filled` (a byte per block) in the table. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BASE UINT64_C(0x100000001B3)
#define BASE_INVERSE UINT64_C(0xCE965057AFF6957B) /* BASE**-1 mod 2**64 */
#define SALT UINT64_C(0x9E3779B97F4A7C15)

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    x ^= x >> 31;
    return x;
}

static uint32_t read_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* sum(c[j] * BASE**(end-1-j)) over [start, end), from prefix[i] = sum(c[j] * BASE**-j, j < i). */
static uint32_t shingle_hash(const uint64_t *prefix, const uint64_t *powers, Py_ssize_t start, Py_ssize_t end)
{
    uint64_t h = (prefix[end] - prefix[start]) * powers[end - 1];
    return (uint32_t)(mix64(h ^ SALT) >> 32);
}

/* x86-64's baseline (SSE2) has no 32-bit vector multiply: where the compiler can, build the
 * loop for AVX2 and SSE4.1 too, chosen at load time by the CPU (2x faster with either). */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(__clang__)
#define CPU_CLONES __attribute__((target_clones("avx2", "sse4.1", "default")))
#else
#define CPU_CLONES
#endif

/* The minima over all shingle hashes of a[p] * h + b[p] (mod 2**32), one permutation at a time. */
CPU_CLONES static void minima(const uint32_t *hashes, Py_ssize_t count, const uint32_t *a, const uint32_t *b,
                   Py_ssize_t num_perm, uint32_t *out)
{
    for (Py_ssize_t p = 0; p < num_perm; p++) {
        const uint32_t ap = a[p], bp = b[p];
        uint32_t low = UINT32_MAX;
        for (Py_ssize_t s = 0; s < count; s++) {
            uint32_t v = ap * hashes[s] + bp;
            low = v < low ? v : low;
        }
        out[p] = low;
    }
}

static PyObject *signature(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_ssize_t ngram;
    int unsegmented;
    Py_buffer a_view, b_view;
    (void)self;
    if (!PyArg_ParseTuple(args, "Unpy*y*", &text, &ngram, &unsegmented, &a_view, &b_view))
        return NULL;
    PyObject *result = NULL;
    uint64_t *work = NULL;
    uint32_t *a = NULL;
    Py_ssize_t num_perm = a_view.len / 4;
    if (ngram < 1 || a_view.len % 4 || b_view.len != a_view.len) {
        PyErr_SetString(PyExc_ValueError, "ngram must be >= 1 and a, b num_perm uint32 each");
        goto done;
    }
    if (PyUnicode_READY(text) < 0)
        goto done;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    /* codes (spaces dropped for character shingles), prefix sums, powers, word starts, hashes */
    work = PyMem_Malloc(sizeof(uint64_t) * (size_t)(3 * length + 2) + sizeof(Py_ssize_t) * (size_t)(length + 1) +
                        sizeof(uint32_t) * (size_t)(length + 1));
    a = PyMem_Malloc(sizeof(uint32_t) * (size_t)(3 * num_perm + 1));
    if (!work || !a) {
        PyErr_NoMemory();
        goto done;
    }
    uint32_t *b = a + num_perm, *low = b + num_perm;
    for (Py_ssize_t p = 0; p < num_perm; p++) {
        a[p] = read_le32((const unsigned char *)a_view.buf + 4 * p);
        b[p] = read_le32((const unsigned char *)b_view.buf + 4 * p);
    }
    uint64_t *codes = work, *prefix = work + length, *powers = prefix + length + 1;
    Py_ssize_t *starts = (Py_ssize_t *)(powers + length + 1);
    uint32_t *hashes = (uint32_t *)(starts + length + 1);
    Py_ssize_t size = 0, spaces = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == ' ') {
            if (unsegmented)
                continue;
            spaces++;
        }
        codes[size++] = c;
    }
    Py_ssize_t count = 0;
    if (size) {
        uint64_t power = 1, inverse = 1, sum = 0;
        prefix[0] = 0;
        for (Py_ssize_t i = 0; i < size; i++) {
            powers[i] = power;
            sum += codes[i] * inverse;
            prefix[i + 1] = sum;
            power *= BASE;
            inverse *= BASE_INVERSE;
        }
        if (unsegmented) {
            if (size <= ngram)
                hashes[count++] = shingle_hash(prefix, powers, 0, size);
            else
                for (Py_ssize_t i = 0; i + ngram <= size; i++)
                    hashes[count++] = shingle_hash(prefix, powers, i, i + ngram);
        } else if (spaces + 1 <= ngram) {
            hashes[count++] = shingle_hash(prefix, powers, 0, size);
        } else {
            /* word starts after each space; shingle k runs from word k's start to the end of word
             * k + ngram - 1 (the space before word k + ngram, or the end of the text) */
            Py_ssize_t words = 0;
            starts[words++] = 0;
            for (Py_ssize_t i = 0; i < size; i++)
                if (codes[i] == ' ')
                    starts[words++] = i + 1;
            for (Py_ssize_t k = 0; k + ngram <= words; k++) {
                Py_ssize_t end = k + ngram < words ? starts[k + ngram] - 1 : size;
                hashes[count++] = shingle_hash(prefix, powers, starts[k], end);
            }
        }
    }
    result = PyBytes_FromStringAndSize(NULL, 4 * num_perm);
    if (!result)
        goto done;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    if (!count) {
        memset(out, 0xFF, (size_t)(4 * num_perm));
        goto done;
    }
    minima(hashes, count, a, b, num_perm, low);
    for (Py_ssize_t p = 0; p < num_perm; p++) {
        out[4 * p] = (unsigned char)low[p];
        out[4 * p + 1] = (unsigned char)(low[p] >> 8);
        out[4 * p + 2] = (unsigned char)(low[p] >> 16);
        out[4 * p + 3] = (unsigned char)(low[p] >> 24);
    }
done:
    PyMem_Free(work);
    PyMem_Free(a);
    PyBuffer_Release(&a_view);
    PyBuffer_Release(&b_view);
    return result;
}

/* The words of text[:max_chars] as str.split() finds them: [starts[i], ends[i]) in code points. */
typedef struct {
    Py_ssize_t *starts, *ends, count, chars; /* chars: their lengths summed */
} Words;

static int split_words(PyObject *text, Py_ssize_t max_chars, Words *words)
{
    if (PyUnicode_READY(text) < 0)
        return -1;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (max_chars < 0) /* text[:max_chars] counts a negative bound from the end */
        max_chars = length + max_chars < 0 ? 0 : length + max_chars;
    if (max_chars < length)
        length = max_chars;
    words->count = words->chars = 0;
    words->starts = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(length + 1));
    words->ends = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(length + 1));
    if (!words->starts || !words->ends) {
        PyMem_Free(words->starts);
        PyMem_Free(words->ends);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t i = 0;
    while (i < length) {
        while (i < length && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            i++;
        if (i == length)
            break;
        Py_ssize_t start = i;
        while (i < length && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            i++;
        words->starts[words->count] = start;
        words->ends[words->count++] = i;
        words->chars += i - start;
    }
    return 0;
}

/* The words listed in `picked` (indexes into `words`), joined by single spaces. */
static PyObject *join_words(PyObject *text, const Words *words, const Py_ssize_t *picked, Py_ssize_t count)
{
    int kind = PyUnicode_KIND(text);
    const char *data = PyUnicode_DATA(text);
    Py_ssize_t size = count ? count - 1 : 0;
    for (Py_ssize_t k = 0; k < count; k++)
        size += words->ends[picked[k]] - words->starts[picked[k]];
    char *buffer = PyMem_Malloc((size_t)kind * (size_t)(size + 1));
    if (!buffer)
        return PyErr_NoMemory();
    Py_ssize_t at = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        if (k)
            PyUnicode_WRITE(kind, buffer, at++, ' ');
        Py_ssize_t start = words->starts[picked[k]], length = words->ends[picked[k]] - start;
        memcpy(buffer + (size_t)kind * (size_t)at, data + (size_t)kind * (size_t)start, (size_t)kind * (size_t)length);
        at += length;
    }
    PyObject *joined = PyUnicode_FromKindAndData(kind, buffer, size); /* narrowed to its widest character */
    PyMem_Free(buffer);
    return joined;
}

static PyObject *lid_window(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_ssize_t max_chars;
    Words words;
    (void)self;
    if (!PyArg_ParseTuple(args, "Un", &text, &max_chars) || split_words(text, max_chars, &words) < 0)
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t *all = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(words.count + 1));
    if (!all) {
        PyErr_NoMemory();
    } else {
        for (Py_ssize_t k = 0; k < words.count; k++)
            all[k] = k;
        result = join_words(text, &words, all, words.count);
    }
    PyMem_Free(all);
    PyMem_Free(words.starts);
    PyMem_Free(words.ends);
    return result;
}

static PyObject *lid_sample(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_ssize_t max_chars, sample_chars, run;
    Words words;
    (void)self;
    if (!PyArg_ParseTuple(args, "Unnn", &text, &max_chars, &sample_chars, &run))
        return NULL;
    if (run < 1)
        run = 1;
    if (sample_chars <= 0)
        Py_RETURN_NONE;
    if (split_words(text, max_chars, &words) < 0)
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t *picked = NULL;
    Py_ssize_t n = words.count, chars = words.chars + n - 1;
    if (run >= (n + 1) / 2 || sample_chars >= (chars + 1) / 2) { /* n <= 2 * run, chars <= 2 * sample_chars */
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    /* as Python computes them: int / int and len / runs are correctly rounded doubles (the
     * product is exact below 2**53: texts of under ~10**8 characters), round() rounds half to
     * even as nearbyint does */
    Py_ssize_t runs = (Py_ssize_t)nearbyint((double)sample_chars * (double)n / (double)chars) / run;
    if (runs < 1)
        runs = 1;
    double step = (double)n / (double)runs;
    picked = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(runs * run + 1));
    if (!picked) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t count = 0;
    for (Py_ssize_t r = 0; r < runs; r++) {
        Py_ssize_t first = (Py_ssize_t)((double)r * step);
        for (Py_ssize_t i = first; i < first + run && i < n; i++)
            picked[count++] = i;
    }
    result = join_words(text, &words, picked, count);
done:
    PyMem_Free(picked);
    PyMem_Free(words.starts);
    PyMem_Free(words.ends);
    return result;
}

static PyObject *map_code_points(PyObject *self, PyObject *args)
{
    PyObject *text, *result = NULL;
    Py_buffer table, filled;
    (void)self;
    if (!PyArg_ParseTuple(args, "Uy*y*", &text, &table, &filled))
        return NULL;
    Py_UCS4 *out = NULL;
    if (PyUnicode_READY(text) < 0)
        goto done;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), size = table.len / 4, n = 0;
    const unsigned char *codes = table.buf, *blocks = filled.buf;
    out = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(length + 1));
    if (!out) {
        PyErr_NoMemory();
        goto done;
    }
    int space = 0; /* a space is due before the next character */
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if ((c >= 0xD800 && c <= 0xDFFF) || (Py_ssize_t)c >= size || (Py_ssize_t)(c >> 8) >= filled.len ||
            !blocks[c >> 8]) {
            result = Py_None;
            Py_INCREF(result);
            goto done;
        }
        Py_UCS4 mapped = read_le32(codes + 4 * (size_t)c);
        if (mapped == ' ') {
            space = n > 0;
            continue;
        }
        if (space) {
            out[n++] = ' ';
            space = 0;
        }
        out[n++] = mapped;
    }
    result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, n);
done:
    PyMem_Free(out);
    PyBuffer_Release(&table);
    PyBuffer_Release(&filled);
    return result;
}

static PyMethodDef methods[] = {
    {"signature", signature, METH_VARARGS,
     "signature(text, ngram, unsegmented, a, b) -> bytes: the poly64/affine32 MinHash signature."},
    {"lid_window", lid_window, METH_VARARGS, "lid_window(text, max_chars) -> str: ' '.join(text[:max_chars].split())"},
    {"lid_sample", lid_sample, METH_VARARGS,
     "lid_sample(text, max_chars, sample_chars, run) -> str | None: langid.sample_of on text[:max_chars]."},
    {"map_code_points", map_code_points, METH_VARARGS,
     "map_code_points(text, table, filled) -> str | None: each code point through table, spaces collapsed."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
