/* The engine's optimiser updates in one pass over the image (CPU).
 *
 * momentum:          v ← μ·v + c·g;  x ← x + v                      (heavy ball, c = −lr·scale)
 * adagrad_momentum:  q ← μ·q + g²;   v ← μ·v − g / (√q + 1/lr);  x ← x + v   (IJCV'16)
 *
 * The eager PyTorch path (inversion/optimisers.py) makes three and six passes over the image;
 * these read and write each array once. x, v, q and g are contiguous arrays of n elements of
 * one float type; the GIL is released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

#define DEFINE_UPDATES(T, SQRT, SUFFIX)                                                              \
    CLONES static void momentum_##SUFFIX(T *restrict x, T *restrict v, const T *restrict g,          \
                                         Py_ssize_t n, T mu, T c)                                    \
    {                                                                                                \
        for (Py_ssize_t i = 0; i < n; i++) {                                                         \
            const T vi = mu * v[i] + c * g[i];                                                       \
            v[i] = vi;                                                                               \
            x[i] += vi;                                                                              \
        }                                                                                            \
    }                                                                                                \
    CLONES static void adagrad_##SUFFIX(T *restrict x, T *restrict v, T *restrict q,                 \
                                        const T *restrict g, Py_ssize_t n, T mu, T inv_lr)           \
    {                                                                                                \
        for (Py_ssize_t i = 0; i < n; i++) {                                                         \
            const T gi = g[i], qi = mu * q[i] + gi * gi;                                             \
            const T vi = mu * v[i] - gi / (SQRT(qi) + inv_lr);                                       \
            q[i] = qi;                                                                               \
            v[i] = vi;                                                                               \
            x[i] += vi;                                                                              \
        }                                                                                            \
    }

DEFINE_UPDATES(float, sqrtf, f32)
DEFINE_UPDATES(double, sqrt, f64)

static int
check(Py_buffer *bufs, int k, Py_ssize_t n, int itemsize)
{
    if (n < 0 || (itemsize != 4 && itemsize != 8))
        return 0;
    for (int i = 0; i < k; i++)
        if (bufs[i].len != n * itemsize)
            return 0;
    return 1;
}

static PyObject *
fail(Py_buffer *bufs, int k, int ok)
{
    for (int i = 0; i < k; i++)
        PyBuffer_Release(&bufs[i]);
    if (ok)
        Py_RETURN_NONE;
    PyErr_SetString(PyExc_ValueError, "_updates: buffer sizes do not match n and the item size");
    return NULL;
}

static PyObject *
momentum(PyObject *self, PyObject *args)
{
    Py_buffer b[3];
    Py_ssize_t n;
    int itemsize;
    double mu, c;
    if (!PyArg_ParseTuple(args, "w*w*y*nidd:momentum", &b[0], &b[1], &b[2], &n, &itemsize, &mu, &c))
        return NULL;
    int ok = check(b, 3, n, itemsize);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 4)
            momentum_f32(b[0].buf, b[1].buf, b[2].buf, n, (float)mu, (float)c);
        else
            momentum_f64(b[0].buf, b[1].buf, b[2].buf, n, mu, c);
        Py_END_ALLOW_THREADS
    }
    return fail(b, 3, ok);
}

static PyObject *
adagrad_momentum(PyObject *self, PyObject *args)
{
    Py_buffer b[4];
    Py_ssize_t n;
    int itemsize;
    double mu, inv_lr;
    if (!PyArg_ParseTuple(args, "w*w*w*y*nidd:adagrad_momentum", &b[0], &b[1], &b[2], &b[3], &n, &itemsize, &mu,
                          &inv_lr))
        return NULL;
    int ok = check(b, 4, n, itemsize);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 4)
            adagrad_f32(b[0].buf, b[1].buf, b[2].buf, b[3].buf, n, (float)mu, (float)inv_lr);
        else
            adagrad_f64(b[0].buf, b[1].buf, b[2].buf, b[3].buf, n, mu, inv_lr);
        Py_END_ALLOW_THREADS
    }
    return fail(b, 4, ok);
}

static PyMethodDef methods[] = {
    {"momentum", momentum, METH_VARARGS, "momentum(x, v, g, n, itemsize, mu, c): v <- mu*v + c*g; x <- x + v."},
    {"adagrad_momentum", adagrad_momentum, METH_VARARGS,
     "adagrad_momentum(x, v, q, g, n, itemsize, mu, inv_lr): q <- mu*q + g^2; v <- mu*v - g/(sqrt(q) + inv_lr); "
     "x <- x + v."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_updates",
                                    "The engine's optimiser updates fused in one pass.", -1, methods};

PyMODINIT_FUNC
PyInit__updates(void)
{
    return PyModule_Create(&module);
}
