/* The engine's image-space closed forms in one pass over the image (CPU).
 *
 * For a contiguous (B, C, H, W) image x and the gradient buffer g that Φ's backward returned,
 *
 *     g ← s_b · g + c_tv · ∂TV²(x)/∂x + c_a · ∂N₆(x)/∂x,
 *
 * with TV² the CVPR'15 Eq. 6 energy for β = 2 (forward differences, replicated border:
 * ∂/∂x_p = 2 Σ_axes (d_{p−e} − d_p)) and N₆(x) = Σ x⁶ the α-norm of Eq. 5 for α = 6
 * (∂/∂x = 6 x⁵); c_tv and c_a are the weights times the constant factors 2 and 6, s_b an
 * optional per-item factor of Φ's gradient. TV²(x) and N₆(x) of each item are returned in
 * `values` (B × 2, float64). The eager PyTorch path (priors/tv.py, priors/alpha.py) computes
 * the same in 8–10 passes over the image; this reads x once and g once. The GIL is released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define T float
#define FN_ROW row_f32
#define FN_IMAGE image_f32
#include "_imageterms_body.h"
#undef T
#undef FN_ROW
#undef FN_IMAGE

#define T double
#define FN_ROW row_f64
#define FN_IMAGE image_f64
#include "_imageterms_body.h"
#undef T
#undef FN_ROW
#undef FN_IMAGE

static PyObject *
tv2_alpha6(PyObject *self, PyObject *args)
{
    Py_buffer xb, gb, vb, sb;
    PyObject *scale_obj;
    Py_ssize_t B, C, H, W;
    double c_tv, c_a;
    int do_tv, do_a, itemsize;
    if (!PyArg_ParseTuple(args, "y*w*Ow*nnnnippdd:tv2_alpha6", &xb, &gb, &scale_obj, &vb, &B, &C, &H, &W,
                          &itemsize, &do_tv, &do_a, &c_tv, &c_a))
        return NULL;
    int have_scale = scale_obj != Py_None, ok = 1;
    if (have_scale && PyObject_GetBuffer(scale_obj, &sb, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&xb); PyBuffer_Release(&gb); PyBuffer_Release(&vb);
        return NULL;
    }
    const Py_ssize_t n = B * C * H * W;
    if (B < 0 || C < 0 || H < 1 || W < 1 || (itemsize != 4 && itemsize != 8)
        || xb.len != n * itemsize || gb.len != n * itemsize || vb.len != 2 * B * (Py_ssize_t)sizeof(double)
        || (have_scale && sb.len != B * itemsize))
        ok = 0;
    if (ok) {
        const void *s = have_scale ? sb.buf : NULL;
        Py_BEGIN_ALLOW_THREADS
        if (itemsize == 4)
            image_f32((const float *)xb.buf, (float *)gb.buf, B, C, H, W, (const float *)s, c_tv, c_a,
                      do_tv, do_a, (double *)vb.buf);
        else
            image_f64((const double *)xb.buf, (double *)gb.buf, B, C, H, W, (const double *)s, c_tv, c_a,
                      do_tv, do_a, (double *)vb.buf);
        Py_END_ALLOW_THREADS
    }
    if (have_scale) PyBuffer_Release(&sb);
    PyBuffer_Release(&xb); PyBuffer_Release(&gb); PyBuffer_Release(&vb);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "tv2_alpha6: buffer sizes do not match (B, C, H, W) and the item size");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"tv2_alpha6", tv2_alpha6, METH_VARARGS,
     "tv2_alpha6(x, g, scale|None, values, B, C, H, W, itemsize, do_tv, do_a, c_tv, c_a): "
     "g <- scale_b*g + c_tv*dTV2/dx + c_a*dN6/dx in one pass; values[b] = (TV2, N6) of item b."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_imageterms",
                                    "The engine's image-space closed forms (TV², α⁶) fused in one pass.", -1, methods};

PyMODINIT_FUNC
PyInit__imageterms(void)
{
    return PyModule_Create(&module);
}
