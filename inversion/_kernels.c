/* The engine's per-step work beyond Φ, in one pass over each array (CPU, plain C, no torch
 * headers; one thread, the GIL released). One thread on purpose: right after Φ's backward
 * torch's own worker threads still spin on the other cores, and a second thread of ours only
 * competes with them (measured: the conv1 step got slower, benchmarks/RESULTS.md, issue 7).
 *
 * tv2_alpha6   g ← s_b·g + c_tv·∂TV²(x)/∂x + c_a·∂N₆(x)/∂x for a contiguous (B, C, H, W) image;
 *              TV²: CVPR'15 Eq. 6 with β = 2 (forward differences, replicated border:
 *              ∂/∂x_p = 2 Σ_axes (d_{p−e} − d_p)); N₆(x) = Σ x⁶, the α-norm of Eq. 5 with α = 6
 *              (∂/∂x = 6x⁵). c_tv, c_a are the weights times 2 and 6; s_b an optional per-item
 *              factor of Φ's gradient. values[b] = (TV², N₆) of item b. The eager path
 *              (priors/tv.py, priors/alpha.py) makes 8–10 passes over the image.
 * residual     r ← φ − φ₀ and values[b] = ‖r_b‖² (the feature match's residual and its norm;
 *              eager: two passes over the feature map).
 * momentum     v ← μ·v + c·g; x ← x + v (heavy ball, c = −lr·scale; eager: three passes).
 * adagrad      q ← μ·q + g²; v ← μ·v − g/(√q + 1/lr); x ← x + v (IJCV'16; eager: six passes).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))  /* AVX2/FMA where present */
#else
#define CLONES
#endif

#define T float
#define SQRT sqrtf
#define NAME(f) f##_f32
#include "_kernels_body.h"
#undef T
#undef SQRT
#undef NAME

#define T double
#define SQRT sqrt
#define NAME(f) f##_f64
#include "_kernels_body.h"
#undef T
#undef SQRT
#undef NAME

/* ---- Python entry points ---------------------------------------------------------------- */

static void
release(Py_buffer *bufs, int k)
{
    for (int i = 0; i < k; i++)
        if (bufs[i].obj != NULL)
            PyBuffer_Release(&bufs[i]);
}

static PyObject *
finish(Py_buffer *bufs, int k, int ok)
{
    release(bufs, k);
    if (ok)
        Py_RETURN_NONE;
    PyErr_SetString(PyExc_ValueError, "_kernels: buffer sizes do not match the shape and item size given");
    return NULL;
}

static int
sized(const Py_buffer *b, Py_ssize_t n, int itemsize)
{
    return (itemsize == 4 || itemsize == 8) && n >= 0 && b->len == n * itemsize;
}

static PyObject *
tv2_alpha6(PyObject *self, PyObject *args)
{
    Py_buffer bufs[4] = {{0}};  /* x, g, values, scale */
    PyObject *scale;
    Py_ssize_t B, C, H, W;
    int itemsize, do_tv, do_a;
    double c_tv, c_a;
    if (!PyArg_ParseTuple(args, "y*w*Ow*nnnnippdd:tv2_alpha6", &bufs[0], &bufs[1], &scale, &bufs[2], &B, &C, &H,
                          &W, &itemsize, &do_tv, &do_a, &c_tv, &c_a))
        return NULL;
    if (scale != Py_None && PyObject_GetBuffer(scale, &bufs[3], PyBUF_SIMPLE) < 0) {
        release(bufs, 3);
        return NULL;
    }
    const Py_ssize_t n = B * C * H * W;
    int ok = B >= 0 && C >= 0 && H >= 1 && W >= 1 && sized(&bufs[0], n, itemsize) && sized(&bufs[1], n, itemsize)
             && bufs[2].len == 2 * B * (Py_ssize_t)sizeof(double) && (scale == Py_None || sized(&bufs[3], B, itemsize));
    if (ok) {
        double *values = bufs[2].buf;
        memset(values, 0, sizeof(double) * 2 * B);
        const void *sc = scale == Py_None ? NULL : bufs[3].buf;
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 4)
            rows_f32(bufs[0].buf, bufs[1].buf, C, H, W, sc, c_tv, c_a, do_tv, do_a, 0, B * C * H, values);
        else
            rows_f64(bufs[0].buf, bufs[1].buf, C, H, W, sc, c_tv, c_a, do_tv, do_a, 0, B * C * H, values);
        Py_END_ALLOW_THREADS
    }
    return finish(bufs, 4, ok);
}

static PyObject *
residual(PyObject *self, PyObject *args)
{
    Py_buffer bufs[4] = {{0}};  /* phi, phi0, r, values */
    Py_ssize_t B, n, B0;
    int itemsize;
    if (!PyArg_ParseTuple(args, "y*y*w*w*nnni:residual", &bufs[0], &bufs[1], &bufs[2], &bufs[3], &B, &n, &B0,
                          &itemsize))
        return NULL;
    int ok = (B0 == 1 || B0 == B) && sized(&bufs[0], B * n, itemsize) && sized(&bufs[1], B0 * n, itemsize)
             && sized(&bufs[2], B * n, itemsize) && bufs[3].len == B * (Py_ssize_t)sizeof(double) && B <= 1 << 20;
    if (ok) {
        double *values = bufs[3].buf;
        memset(values, 0, sizeof(double) * B);
        const int broadcast = B0 == 1 && B > 1;
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 4)
            residual_f32(bufs[0].buf, bufs[1].buf, bufs[2].buf, n, broadcast, 0, B * n, values);
        else
            residual_f64(bufs[0].buf, bufs[1].buf, bufs[2].buf, n, broadcast, 0, B * n, values);
        Py_END_ALLOW_THREADS
    }
    return finish(bufs, 4, ok);
}

static PyObject *
momentum(PyObject *self, PyObject *args)
{
    Py_buffer bufs[3] = {{0}};  /* x, v, g */
    Py_ssize_t n;
    int itemsize;
    double mu, c;
    if (!PyArg_ParseTuple(args, "w*w*y*nidd:momentum", &bufs[0], &bufs[1], &bufs[2], &n, &itemsize, &mu, &c))
        return NULL;
    int ok = sized(&bufs[0], n, itemsize) && sized(&bufs[1], n, itemsize) && sized(&bufs[2], n, itemsize);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 4)
            momentum_f32(bufs[0].buf, bufs[1].buf, bufs[2].buf, (float)mu, (float)c, 0, n);
        else
            momentum_f64(bufs[0].buf, bufs[1].buf, bufs[2].buf, mu, c, 0, n);
        Py_END_ALLOW_THREADS
    }
    return finish(bufs, 3, ok);
}

static PyObject *
adagrad_momentum(PyObject *self, PyObject *args)
{
    Py_buffer bufs[4] = {{0}};  /* x, v, q, g */
    Py_ssize_t n;
    int itemsize;
    double mu, inv_lr;
    if (!PyArg_ParseTuple(args, "w*w*w*y*nidd:adagrad_momentum", &bufs[0], &bufs[1], &bufs[2], &bufs[3], &n,
                          &itemsize, &mu, &inv_lr))
        return NULL;
    int ok = sized(&bufs[0], n, itemsize) && sized(&bufs[1], n, itemsize) && sized(&bufs[2], n, itemsize)
             && sized(&bufs[3], n, itemsize);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 4)
            adagrad_f32(bufs[0].buf, bufs[1].buf, bufs[2].buf, bufs[3].buf, (float)mu, (float)inv_lr, 0, n);
        else
            adagrad_f64(bufs[0].buf, bufs[1].buf, bufs[2].buf, bufs[3].buf, mu, inv_lr, 0, n);
        Py_END_ALLOW_THREADS
    }
    return finish(bufs, 4, ok);
}

static PyMethodDef methods[] = {
    {"tv2_alpha6", tv2_alpha6, METH_VARARGS,
     "tv2_alpha6(x, g, scale|None, values, B, C, H, W, itemsize, do_tv, do_a, c_tv, c_a): "
     "g <- scale_b*g + c_tv*dTV2/dx + c_a*dN6/dx; values[b] = (TV2, N6) of item b."},
    {"residual", residual, METH_VARARGS,
     "residual(phi, phi0, r, values, B, n, B0, itemsize): r <- phi - phi0; values[b] = |r_b|^2."},
    {"momentum", momentum, METH_VARARGS, "momentum(x, v, g, n, itemsize, mu, c): v <- mu*v + c*g; x <- x + v."},
    {"adagrad_momentum", adagrad_momentum, METH_VARARGS,
     "adagrad_momentum(x, v, q, g, n, itemsize, mu, inv_lr): q <- mu*q + g^2; "
     "v <- mu*v - g/(sqrt(q) + inv_lr); x <- x + v."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                                    "The engine's per-step work beyond the representation, one pass per array.", -1,
                                    methods};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
