/*
 * The log pipeline's three per-record loops in C: the only work a log line costs
 * the user's code besides its own `logging` call, paid under the GIL on the
 * sender's side. Each function is the exact equivalent of a pure-Python loop
 * (`kuberun.runtime.speedups` says which); a unit test holds them together on
 * random records. Anything outside the common case (a formatting error, a long
 * line, an engine record, an exception on a line to take, a lone surrogate) is
 * left to the Python code: these functions stop or answer None instead of
 * deciding it a second way.
 *
 *   take(raw, count, attempt, sequenced, lines, nbytes, max_lines, max_bytes,
 *        cheap_size, entry_type, log_source)
 *       -> (entries, sequenced, lines, nbytes)
 *   pack(key, entries) -> bytes | None       XADD commands, as XaddPacker._one
 *   echo(entries, second, prefix) -> (bytes, second, prefix) | None
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- buffer */

typedef struct {
    char *data;
    Py_ssize_t size;
    Py_ssize_t capacity;
} Buffer;

static int buffer_reserve(Buffer *b, Py_ssize_t more) {
    if (b->size + more <= b->capacity) {
        return 0;
    }
    Py_ssize_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity < b->size + more) {
        capacity *= 2;
    }
    char *data = PyMem_Realloc(b->data, (size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->capacity = capacity;
    return 0;
}

static int buffer_add(Buffer *b, const char *text, Py_ssize_t size) {
    if (buffer_reserve(b, size) < 0) {
        return -1;
    }
    memcpy(b->data + b->size, text, (size_t)size);
    b->size += size;
    return 0;
}

static int buffer_literal(Buffer *b, const char *text) {
    return buffer_add(b, text, (Py_ssize_t)strlen(text));
}

/* Decimal digits of `value` into `text` (at least 24 bytes): their count. As `str(int)`,
 * without printf's format parsing (this runs a dozen times per record). */
static int decimal(char *text, long long value) {
    char reversed[24];
    int size = 0;
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value
                                             : (unsigned long long)value;
    do {
        reversed[size++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    int length = 0;
    if (value < 0) {
        text[length++] = '-';
    }
    while (size) {
        text[length++] = reversed[--size];
    }
    return length;
}

/* f"{value:.6f}" into `text` (at least 64 bytes): its length, or -1 (not finite).
 *
 * Python rounds the exact binary value half to even. For 1 <= value < 2^52 the
 * fraction is a whole number of 2^-52 (a double has no finer bits there), so the
 * microseconds are that number times 10^6 over 2^52, rounded in 128-bit integers:
 * exact, and several times faster than printf. Other values go through printf,
 * whose glibc implementation rounds exactly too. */
static int fixed6(char *text, double value) {
    if (!isfinite(value)) {
        return -1;
    }
    if (!(value >= 1.0 && value < 4503599627370496.0)) {
        int size = snprintf(text, 64, "%.6f", value);
        return size > 0 && size < 64 ? size : -1;
    }
    double whole_part = floor(value);
    unsigned long long whole = (unsigned long long)whole_part;
    unsigned long long fraction = (unsigned long long)ldexp(value - whole_part, 52);
    unsigned __int128 scaled = (unsigned __int128)fraction * 1000000u;
    unsigned long long micros = (unsigned long long)(scaled >> 52);
    unsigned long long rest = (unsigned long long)(scaled & ((1ULL << 52) - 1));
    unsigned long long half = 1ULL << 51;
    if (rest > half || (rest == half && (micros & 1))) {
        micros += 1;
    }
    if (micros == 1000000) {
        micros = 0;
        whole += 1;
    }
    int size = decimal(text, (long long)whole);
    text[size++] = '.';
    for (int digit = 5; digit >= 0; digit--) {
        text[size + digit] = (char)('0' + micros % 10);
        micros /= 10;
    }
    return size + 6;
}

/* `$<size>\r\n<bytes>\r\n`: one RESP bulk string. */
static int buffer_bulk(Buffer *b, const char *text, Py_ssize_t size) {
    if (buffer_reserve(b, size + 28) < 0) {
        return -1;
    }
    char *at = b->data + b->size;
    *at++ = '$';
    at += decimal(at, (long long)size);
    *at++ = '\r';
    *at++ = '\n';
    memcpy(at, text, (size_t)size);
    at += size;
    *at++ = '\r';
    *at++ = '\n';
    b->size = at - b->data;
    return 0;
}

static PyObject *buffer_bytes(Buffer *b) {
    PyObject *bytes = PyBytes_FromStringAndSize(b->data ? b->data : "", b->size);
    PyMem_Free(b->data);
    b->data = NULL;
    return bytes;
}

/* UTF-8 of an exact str, or NULL with no error set when it has none (a lone
 * surrogate) or is not a str: the caller then leaves the batch to Python. */
static const char *utf8_of(PyObject *text, Py_ssize_t *size) {
    if (!PyUnicode_CheckExact(text)) {
        return NULL;
    }
    const char *data = PyUnicode_AsUTF8AndSize(text, size);
    if (data == NULL) {
        PyErr_Clear();
    }
    return data;
}

/* ------------------------------------------------------------------ take */

static PyObject *speedups_take(PyObject *module, PyObject *args) {
    PyObject *raw, *entry_type_object, *log_source;
    Py_ssize_t count;
    long long attempt, sequenced, lines, nbytes, max_lines, max_bytes;
    Py_ssize_t cheap_size;
    if (!PyArg_ParseTuple(args, "OnLLLLLLnOU", &raw, &count, &attempt, &sequenced, &lines,
                          &nbytes, &max_lines, &max_bytes, &cheap_size, &entry_type_object,
                          &log_source)) {
        return NULL;
    }
    if (!PyType_Check(entry_type_object)) {
        PyErr_SetString(PyExc_TypeError, "entry_type must be a type");
        return NULL;
    }
    PyTypeObject *entry_type = (PyTypeObject *)entry_type_object;
    PyObject *kept = PyList_New(0);
    if (kept == NULL) {
        return NULL;
    }
    PyObject *popleft = PyObject_GetAttrString(raw, "popleft");
    PyObject *attempt_object = PyLong_FromLongLong(attempt);
    if (popleft == NULL || attempt_object == NULL) {
        goto failed;
    }
    for (Py_ssize_t taken = 0; taken < count; taken++) {
        if (PySequence_Size(raw) <= 0) {
            PyErr_Clear();
            break;
        }
        PyObject *item = PySequence_GetItem(raw, 0);
        if (item == NULL) {
            goto failed;
        }
        PyObject *level, *logger, *source, *message, *timestamp;
        Py_ssize_t length = PyTuple_CheckExact(item) ? PyTuple_GET_SIZE(item) : -1;
        if (length == 5) { /* (msg, args, levelname, name, created) */
            PyObject *msg = PyTuple_GET_ITEM(item, 0), *format_args = PyTuple_GET_ITEM(item, 1);
            int has_args = PyObject_IsTrue(format_args);
            if (has_args < 0 || !PyUnicode_CheckExact(msg)) {
                PyErr_Clear();
                Py_DECREF(item);
                break;
            }
            if (has_args) {
                message = PyUnicode_Format(msg, format_args);
                if (message == NULL) { /* Python writes the failure into the line */
                    PyErr_Clear();
                    Py_DECREF(item);
                    break;
                }
            } else {
                message = Py_NewRef(msg);
            }
            level = PyTuple_GET_ITEM(item, 2);
            logger = PyTuple_GET_ITEM(item, 3);
            source = log_source;
            timestamp = PyTuple_GET_ITEM(item, 4);
        } else if (length == 7) { /* (level, logger, source, message, exception, ts, engine) */
            if (PyTuple_GET_ITEM(item, 4) != Py_None || PyTuple_GET_ITEM(item, 6) != Py_False) {
                Py_DECREF(item);
                break;
            }
            level = PyTuple_GET_ITEM(item, 0);
            logger = PyTuple_GET_ITEM(item, 1);
            source = PyTuple_GET_ITEM(item, 2);
            message = Py_NewRef(PyTuple_GET_ITEM(item, 3));
            timestamp = PyTuple_GET_ITEM(item, 5);
        } else {
            Py_DECREF(item);
            break;
        }
        Py_ssize_t size = PyUnicode_Check(message) ? PyUnicode_GET_LENGTH(message) : -1;
        if (size < 0 || size > cheap_size || lines >= max_lines || nbytes + size > max_bytes) {
            Py_DECREF(message);
            Py_DECREF(item);
            break;
        }
        PyObject *entry = entry_type->tp_alloc(entry_type, 8);
        PyObject *sequence = PyLong_FromLongLong(sequenced + 1);
        if (entry == NULL || sequence == NULL) {
            Py_XDECREF(entry);
            Py_XDECREF(sequence);
            Py_DECREF(message);
            Py_DECREF(item);
            goto failed;
        }
        PyTuple_SET_ITEM(entry, 0, sequence);
        PyTuple_SET_ITEM(entry, 1, Py_NewRef(timestamp));
        PyTuple_SET_ITEM(entry, 2, Py_NewRef(level));
        PyTuple_SET_ITEM(entry, 3, Py_NewRef(logger));
        PyTuple_SET_ITEM(entry, 4, Py_NewRef(source));
        PyTuple_SET_ITEM(entry, 5, message);
        PyTuple_SET_ITEM(entry, 6, Py_NewRef(attempt_object));
        PyTuple_SET_ITEM(entry, 7, Py_NewRef(Py_None));
        Py_DECREF(item);
        int appended = PyList_Append(kept, entry);
        Py_DECREF(entry);
        if (appended < 0) {
            goto failed;
        }
        PyObject *popped = PyObject_CallNoArgs(popleft);
        if (popped == NULL) {
            goto failed;
        }
        Py_DECREF(popped);
        sequenced += 1;
        lines += 1;
        nbytes += size;
    }
    Py_DECREF(popleft);
    Py_DECREF(attempt_object);
    return Py_BuildValue("(NLLL)", kept, sequenced, lines, nbytes);
failed:
    Py_XDECREF(popleft);
    Py_XDECREF(attempt_object);
    Py_DECREF(kept);
    return NULL;
}

/* ------------------------------------------------------------------ pack */

static int pack_field(Buffer *b, const char *name, PyObject *value, int *ok) {
    Py_ssize_t size;
    const char *text = utf8_of(value, &size);
    if (text == NULL) {
        *ok = 0;
        return 0;
    }
    if (buffer_bulk(b, name, (Py_ssize_t)strlen(name)) < 0) {
        return -1;
    }
    return buffer_bulk(b, text, size);
}

static PyObject *speedups_pack(PyObject *module, PyObject *args) {
    PyObject *key, *entries;
    if (!PyArg_ParseTuple(args, "SO!", &key, &PyList_Type, &entries)) {
        return NULL;
    }
    Buffer b = {NULL, 0, 0};
    Py_ssize_t count = PyList_GET_SIZE(entries);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 8) {
            goto fallback;
        }
        PyObject *exception = PyTuple_GET_ITEM(entry, 7);
        long long sequence = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 0));
        long long attempt = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 6));
        double timestamp = PyFloat_AsDouble(PyTuple_GET_ITEM(entry, 1));
        if (PyErr_Occurred() || !PyFloat_CheckExact(PyTuple_GET_ITEM(entry, 1))) {
            PyErr_Clear();
            goto fallback;
        }
        char ident[50], seq[24], ts[64];
        int seq_size = decimal(seq, sequence);
        int ident_size = decimal(ident, attempt);
        ident[ident_size++] = '-';
        memcpy(ident + ident_size, seq, (size_t)seq_size);
        ident_size += seq_size;
        int ts_size = fixed6(ts, timestamp);
        if (ts_size < 0) {
            goto fallback; /* inf and nan are spelled otherwise */
        }
        int ok = 1;
        int bad = buffer_literal(&b, exception == Py_None ? "*17\r\n" : "*19\r\n") < 0
                  || buffer_bulk(&b, "XADD", 4) < 0
                  || buffer_bulk(&b, PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key)) < 0
                  || buffer_bulk(&b, ident, ident_size) < 0
                  || buffer_bulk(&b, "seq", 3) < 0 || buffer_bulk(&b, seq, seq_size) < 0
                  || buffer_bulk(&b, "ts", 2) < 0
                  || buffer_bulk(&b, ts, ts_size) < 0;
        bad = bad || pack_field(&b, "level", PyTuple_GET_ITEM(entry, 2), &ok) < 0;
        bad = bad || (ok && pack_field(&b, "logger", PyTuple_GET_ITEM(entry, 3), &ok) < 0);
        bad = bad || (ok && pack_field(&b, "source", PyTuple_GET_ITEM(entry, 4), &ok) < 0);
        bad = bad || (ok && pack_field(&b, "msg", PyTuple_GET_ITEM(entry, 5), &ok) < 0);
        if (!bad && ok) {
            bad = buffer_bulk(&b, "attempt", 7) < 0
                  || buffer_bulk(&b, ident, ident_size - seq_size - 1) < 0;
        }
        if (!bad && ok && exception != Py_None) {
            bad = pack_field(&b, "exc", exception, &ok) < 0;
        }
        if (bad) {
            goto failed;
        }
        if (!ok) {
            goto fallback;
        }
    }
    return buffer_bytes(&b);
fallback:
    PyMem_Free(b.data);
    Py_RETURN_NONE;
failed:
    PyMem_Free(b.data);
    return NULL;
}

/* ------------------------------------------------------------------ echo */

/* `%-7s`: the text, then spaces up to 7 code points. */
static int echo_padded(Buffer *b, PyObject *text, const char *data, Py_ssize_t size) {
    if (buffer_add(b, data, size) < 0) {
        return -1;
    }
    for (Py_ssize_t pad = 7 - PyUnicode_GET_LENGTH(text); pad > 0; pad--) {
        if (buffer_add(b, " ", 1) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *speedups_echo(PyObject *module, PyObject *args) {
    PyObject *entries, *given;
    long long second;
    if (!PyArg_ParseTuple(args, "O!LU", &PyList_Type, &entries, &second, &given)) {
        return NULL;
    }
    PyObject *prefix = Py_NewRef(given); /* owned; replaced when the second changes */
    PyObject *result = NULL;
    Buffer b = {NULL, 0, 0};
    Py_ssize_t prefix_size;
    const char *prefix_data = utf8_of(prefix, &prefix_size);
    if (prefix_data == NULL) {
        goto fallback;
    }
    Py_ssize_t count = PyList_GET_SIZE(entries);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 8
            || !PyFloat_CheckExact(PyTuple_GET_ITEM(entry, 1))) {
            goto fallback;
        }
        double timestamp = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(entry, 1));
        if (!(timestamp >= 0 && timestamp < 1e15)) {
            goto fallback; /* int(), localtime and %d as Python does them: not here */
        }
        long long whole = (long long)timestamp;
        if (whole != second) { /* strftime once a second, not once a line */
            char made[32];
            time_t at = (time_t)whole;
            struct tm local;
            if (localtime_r(&at, &local) == NULL) {
                goto fallback;
            }
            size_t made_size = strftime(made, sizeof made, "%H:%M:%S", &local);
            if (made_size == 0) {
                goto fallback;
            }
            PyObject *text = PyUnicode_DecodeUTF8(made, (Py_ssize_t)made_size, "strict");
            if (text == NULL) {
                goto failed;
            }
            Py_SETREF(prefix, text);
            prefix_data = utf8_of(prefix, &prefix_size);
            if (prefix_data == NULL) {
                goto fallback;
            }
            second = whole;
        }
        PyObject *level = PyTuple_GET_ITEM(entry, 2), *logger = PyTuple_GET_ITEM(entry, 3);
        PyObject *exception = PyTuple_GET_ITEM(entry, 7);
        /* `logger or source` */
        PyObject *who = (PyUnicode_Check(logger) && PyUnicode_GET_LENGTH(logger) == 0)
                            ? PyTuple_GET_ITEM(entry, 4)
                            : logger;
        Py_ssize_t level_size, who_size, message_size, exception_size = 0;
        const char *level_data = utf8_of(level, &level_size);
        const char *who_data = utf8_of(who, &who_size);
        const char *message_data = utf8_of(PyTuple_GET_ITEM(entry, 5), &message_size);
        if (level_data == NULL || who_data == NULL || message_data == NULL) {
            goto fallback;
        }
        PyObject *stripped = NULL;
        const char *exception_data = NULL;
        if (exception != Py_None) {
            /* f"{message}\n{exception.rstrip()}" when the exception text is not empty */
            if (!PyUnicode_CheckExact(exception)) {
                goto fallback;
            }
            if (PyUnicode_GET_LENGTH(exception) > 0) {
                stripped = PyObject_CallMethod(exception, "rstrip", NULL);
                if (stripped == NULL) {
                    goto failed;
                }
                exception_data = utf8_of(stripped, &exception_size);
                if (exception_data == NULL) {
                    Py_DECREF(stripped);
                    goto fallback;
                }
            }
        }
        int millis = (int)((timestamp - (double)whole) * 1000);
        if (millis > 999) {
            goto fallback;
        }
        int bad = buffer_add(&b, prefix_data, prefix_size) < 0
                  || buffer_add(&b, (char[]){'.', (char)('0' + millis / 100 % 10),
                                             (char)('0' + millis / 10 % 10),
                                             (char)('0' + millis % 10), ' '}, 5) < 0
                  || echo_padded(&b, level, level_data, level_size) < 0
                  || buffer_add(&b, " ", 1) < 0 || buffer_add(&b, who_data, who_size) < 0
                  || buffer_add(&b, ": ", 2) < 0
                  || buffer_add(&b, message_data, message_size) < 0
                  || (exception_data != NULL
                      && (buffer_add(&b, "\n", 1) < 0
                          || buffer_add(&b, exception_data, exception_size) < 0))
                  || buffer_add(&b, "\n", 1) < 0;
        Py_XDECREF(stripped);
        if (bad) {
            goto failed;
        }
    }
    PyObject *bytes = buffer_bytes(&b);
    if (bytes != NULL) {
        result = Py_BuildValue("(NLO)", bytes, second, prefix);
    }
    Py_DECREF(prefix);
    return result;
fallback:
    Py_DECREF(prefix);
    PyMem_Free(b.data);
    Py_RETURN_NONE;
failed:
    Py_DECREF(prefix);
    PyMem_Free(b.data);
    return NULL;
}

static PyMethodDef methods[] = {
    {"take", speedups_take, METH_VARARGS, "Sequence the common records at the deque's head."},
    {"pack", speedups_pack, METH_VARARGS, "XADD commands of entries, or None."},
    {"echo", speedups_echo, METH_VARARGS, "Echo lines of entries, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "The log pipeline's per-record loops in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
