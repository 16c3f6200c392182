/* The engine's per-step work beyond Φ, in one pass over each array (CPU, plain C, no torch
 * headers; the GIL is released; `threads` workers share each pass, as torch's own threads).
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
#include <pthread.h>
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

/* ---- threads: worker k of n takes the k-th contiguous share of the work ---------------- */

#define MAX_THREADS 16
#define MIN_SHARE 262144  /* elements per worker below which a thread costs more than it saves */

typedef struct Job Job;
typedef void (*Work)(const Job *job, Py_ssize_t lo, Py_ssize_t hi, double *acc);
struct Job {
    Work work;
    Py_ssize_t total;  /* units of work (rows or elements) */
    int n;             /* workers */
    Py_ssize_t nacc;   /* per-item sums per worker */
    double *acc;       /* n × nacc, zeroed */
    int itemsize;
    const void *a, *b, *c;
    void *x, *y, *z;
    Py_ssize_t C, H, W, len;
    int f1, f2;
    double d1, d2;
};
typedef struct { const Job *job; int k; } Share;

static void
run_share(const Job *job, int k)
{
    const Py_ssize_t lo = job->total * k / job->n, hi = job->total * (k + 1) / job->n;
    if (hi > lo)
        job->work(job, lo, hi, job->acc + k * job->nacc);
}

static void *
thread_main(void *p)
{
    const Share *s = p;
    run_share(s->job, s->k);
    return NULL;
}

static int
workers(int threads, Py_ssize_t elements)
{
    int n = threads < 1 ? 1 : (threads > MAX_THREADS ? MAX_THREADS : threads);
    return elements / MIN_SHARE + 1 < n ? (int)(elements / MIN_SHARE + 1) : n;
}

/* Runs the job (n workers, worker 0 in the calling thread; a thread that cannot be started
 * runs its share in the caller) and sums the workers' per-item sums, job->acc (n × nacc,
 * zeroed), into out[0 .. nacc). Called without the GIL. */
static void
run(Job *job, double *out)
{
    pthread_t th[MAX_THREADS];
    Share shares[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int k = 1; k < job->n; k++) {
        shares[k] = (Share){job, k};
        started[k] = pthread_create(&th[k], NULL, thread_main, &shares[k]) == 0;
    }
    run_share(job, 0);
    for (int k = 1; k < job->n; k++) {
        if (started[k]) pthread_join(th[k], NULL);
        else run_share(job, k);
    }
    for (Py_ssize_t i = 0; i < job->nacc; i++) {
        double s = 0;
        for (int k = 0; k < job->n; k++)
            s += job->acc[k * job->nacc + i];
        out[i] = s;
    }
}

/* Sets the job's workers and zeroed per-worker sums; -1 with MemoryError set if out of memory. */
static int
prepare(Job *job, int threads, Py_ssize_t elements)
{
    job->n = workers(threads, elements);
    job->acc = NULL;
    if (job->nacc > 0 && (job->acc = PyMem_Calloc((size_t)job->n * job->nacc, sizeof(double))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* ---- the work of each kernel on a share ------------------------------------------------ */

static void
work_tv_alpha(const Job *j, Py_ssize_t lo, Py_ssize_t hi, double *acc)
{
    if (j->itemsize == 4)
        rows_f32(j->a, j->x, j->C, j->H, j->W, j->b, j->d1, j->d2, j->f1, j->f2, lo, hi, acc);
    else
        rows_f64(j->a, j->x, j->C, j->H, j->W, j->b, j->d1, j->d2, j->f1, j->f2, lo, hi, acc);
}

static void
work_residual(const Job *j, Py_ssize_t lo, Py_ssize_t hi, double *acc)
{
    if (j->itemsize == 4)
        residual_f32(j->a, j->b, j->x, j->len, j->f1, lo, hi, acc);
    else
        residual_f64(j->a, j->b, j->x, j->len, j->f1, lo, hi, acc);
}

static void
work_momentum(const Job *j, Py_ssize_t lo, Py_ssize_t hi, double *acc)
{
    if (j->itemsize == 4)
        momentum_f32(j->x, j->y, j->a, (float)j->d1, (float)j->d2, lo, hi);
    else
        momentum_f64(j->x, j->y, j->a, j->d1, j->d2, lo, hi);
}

static void
work_adagrad(const Job *j, Py_ssize_t lo, Py_ssize_t hi, double *acc)
{
    if (j->itemsize == 4)
        adagrad_f32(j->x, j->y, j->z, j->a, (float)j->d1, (float)j->d2, lo, hi);
    else
        adagrad_f64(j->x, j->y, j->z, j->a, j->d1, j->d2, lo, hi);
}

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
    int itemsize, do_tv, do_a, threads;
    double c_tv, c_a;
    if (!PyArg_ParseTuple(args, "y*w*Ow*nnnnippddi:tv2_alpha6", &bufs[0], &bufs[1], &scale, &bufs[2], &B, &C, &H,
                          &W, &itemsize, &do_tv, &do_a, &c_tv, &c_a, &threads))
        return NULL;
    if (scale != Py_None && PyObject_GetBuffer(scale, &bufs[3], PyBUF_SIMPLE) < 0) {
        release(bufs, 3);
        return NULL;
    }
    const Py_ssize_t n = B * C * H * W;
    int ok = B >= 0 && C >= 0 && H >= 1 && W >= 1 && sized(&bufs[0], n, itemsize) && sized(&bufs[1], n, itemsize)
             && bufs[2].len == 2 * B * (Py_ssize_t)sizeof(double) && (scale == Py_None || sized(&bufs[3], B, itemsize));
    if (ok) {
        Job job = {.work = work_tv_alpha, .total = B * C * H, .nacc = 2 * B, .itemsize = itemsize, .a = bufs[0].buf,
                   .b = scale == Py_None ? NULL : bufs[3].buf, .x = bufs[1].buf, .C = C, .H = H, .W = W,
                   .f1 = do_tv, .f2 = do_a, .d1 = c_tv, .d2 = c_a};
        if (prepare(&job, threads, n) < 0) {
            release(bufs, 4);
            return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        run(&job, bufs[2].buf);
        Py_END_ALLOW_THREADS
        PyMem_Free(job.acc);
    }
    return finish(bufs, 4, ok);
}

static PyObject *
residual(PyObject *self, PyObject *args)
{
    Py_buffer bufs[4] = {{0}};  /* phi, phi0, r, values */
    Py_ssize_t B, n, B0;
    int itemsize, threads;
    if (!PyArg_ParseTuple(args, "y*y*w*w*nnnii:residual", &bufs[0], &bufs[1], &bufs[2], &bufs[3], &B, &n, &B0,
                          &itemsize, &threads))
        return NULL;
    int ok = (B0 == 1 || B0 == B) && sized(&bufs[0], B * n, itemsize) && sized(&bufs[1], B0 * n, itemsize)
             && sized(&bufs[2], B * n, itemsize) && bufs[3].len == B * (Py_ssize_t)sizeof(double) && B <= 1 << 20;
    if (ok) {
        Job job = {.work = work_residual, .total = B * n, .nacc = B, .itemsize = itemsize, .a = bufs[0].buf,
                   .b = bufs[1].buf, .x = bufs[2].buf, .len = n, .f1 = B0 == 1 && B > 1};
        if (prepare(&job, threads, B * n) < 0) {
            release(bufs, 4);
            return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        run(&job, bufs[3].buf);
        Py_END_ALLOW_THREADS
        PyMem_Free(job.acc);
    }
    return finish(bufs, 4, ok);
}

static PyObject *
momentum(PyObject *self, PyObject *args)
{
    Py_buffer bufs[3] = {{0}};  /* x, v, g */
    Py_ssize_t n;
    int itemsize, threads;
    double mu, c;
    if (!PyArg_ParseTuple(args, "w*w*y*niddi:momentum", &bufs[0], &bufs[1], &bufs[2], &n, &itemsize, &mu, &c,
                          &threads))
        return NULL;
    int ok = sized(&bufs[0], n, itemsize) && sized(&bufs[1], n, itemsize) && sized(&bufs[2], n, itemsize);
    if (ok) {
        Job job = {.work = work_momentum, .total = n, .itemsize = itemsize, .x = bufs[0].buf, .y = bufs[1].buf,
                   .a = bufs[2].buf, .d1 = mu, .d2 = c};
        if (prepare(&job, threads, n) < 0) {
            release(bufs, 3);
            return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        run(&job, NULL);
        Py_END_ALLOW_THREADS
        PyMem_Free(job.acc);
    }
    return finish(bufs, 3, ok);
}

static PyObject *
adagrad_momentum(PyObject *self, PyObject *args)
{
    Py_buffer bufs[4] = {{0}};  /* x, v, q, g */
    Py_ssize_t n;
    int itemsize, threads;
    double mu, inv_lr;
    if (!PyArg_ParseTuple(args, "w*w*w*y*niddi:adagrad_momentum", &bufs[0], &bufs[1], &bufs[2], &bufs[3], &n,
                          &itemsize, &mu, &inv_lr, &threads))
        return NULL;
    int ok = sized(&bufs[0], n, itemsize) && sized(&bufs[1], n, itemsize) && sized(&bufs[2], n, itemsize)
             && sized(&bufs[3], n, itemsize);
    if (ok) {
        Job job = {.work = work_adagrad, .total = n, .itemsize = itemsize, .x = bufs[0].buf, .y = bufs[1].buf,
                   .z = bufs[2].buf, .a = bufs[3].buf, .d1 = mu, .d2 = inv_lr};
        if (prepare(&job, threads, n) < 0) {
            release(bufs, 4);
            return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        run(&job, NULL);
        Py_END_ALLOW_THREADS
        PyMem_Free(job.acc);
    }
    return finish(bufs, 4, ok);
}

static PyMethodDef methods[] = {
    {"tv2_alpha6", tv2_alpha6, METH_VARARGS,
     "tv2_alpha6(x, g, scale|None, values, B, C, H, W, itemsize, do_tv, do_a, c_tv, c_a, threads): "
     "g <- scale_b*g + c_tv*dTV2/dx + c_a*dN6/dx; values[b] = (TV2, N6) of item b."},
    {"residual", residual, METH_VARARGS,
     "residual(phi, phi0, r, values, B, n, B0, itemsize, threads): r <- phi - phi0; values[b] = |r_b|^2."},
    {"momentum", momentum, METH_VARARGS, "momentum(x, v, g, n, itemsize, mu, c, threads): v <- mu*v + c*g; x <- x + v."},
    {"adagrad_momentum", adagrad_momentum, METH_VARARGS,
     "adagrad_momentum(x, v, q, g, n, itemsize, mu, inv_lr, threads): q <- mu*q + g^2; "
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
