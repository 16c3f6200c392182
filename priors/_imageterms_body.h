/* Kernel body of _imageterms.c, included once per element type: T (float or double) and
 * the function names FN_ROW, FN_IMAGE. See _imageterms.c for what it computes. */

static inline __attribute__((always_inline)) void
FN_ROW(const T *restrict r, const T *restrict up, const T *restrict dn, T *restrict q, Py_ssize_t W,
       T s, T c_tv, T c_a, const int do_tv, const int do_a, double *tv_acc, double *a_acc)
{
    /* One row: q[j] = s·q[j] + c_tv·(4z − l − r − u − d) + c_a·z⁵ with z = r[j] and its four
     * neighbours (a missing neighbour is z itself: replicated border, difference zero). */
    T tv = 0, an = 0;
    if (W == 1) {
        const T z = r[0], u = up[0], d = dn[0];
        T g = s * q[0];
        if (do_tv) { const T e = d - z; tv += e * e; g += c_tv * (2 * z - u - d); }
        if (do_a) { const T z2 = z * z, z4 = z2 * z2; an += z4 * z2; g += c_a * z4 * z; }
        q[0] = g;
        *tv_acc += tv; *a_acc += an;
        return;
    }
    {   /* j = 0: no left neighbour */
        const T z = r[0], rt = r[1], u = up[0], d = dn[0];
        T g = s * q[0];
        if (do_tv) { const T e1 = rt - z, e2 = d - z; tv += e1 * e1 + e2 * e2; g += c_tv * (3 * z - rt - u - d); }
        if (do_a) { const T z2 = z * z, z4 = z2 * z2; an += z4 * z2; g += c_a * z4 * z; }
        q[0] = g;
    }
#pragma omp simd reduction(+:tv, an)
    for (Py_ssize_t j = 1; j < W - 1; j++) {
        const T z = r[j];
        T g = s * q[j];
        if (do_tv) {
            const T rt = r[j + 1], d = dn[j];
            const T e1 = rt - z, e2 = d - z;
            tv += e1 * e1 + e2 * e2;
            g += c_tv * (4 * z - r[j - 1] - rt - up[j] - d);
        }
        if (do_a) { const T z2 = z * z, z4 = z2 * z2; an += z4 * z2; g += c_a * z4 * z; }
        q[j] = g;
    }
    {   /* j = W − 1: no right neighbour */
        const Py_ssize_t j = W - 1;
        const T z = r[j], l = r[j - 1], u = up[j], d = dn[j];
        T g = s * q[j];
        if (do_tv) { const T e2 = d - z; tv += e2 * e2; g += c_tv * (3 * z - l - u - d); }
        if (do_a) { const T z2 = z * z, z4 = z2 * z2; an += z4 * z2; g += c_a * z4 * z; }
        q[j] = g;
    }
    *tv_acc += tv; *a_acc += an;
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))  /* AVX2/FMA where the CPU has it */
#endif
static void
FN_IMAGE(const T *restrict x, T *restrict out, Py_ssize_t B, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
         const T *scale, double c_tv, double c_a, int do_tv, int do_a, double *values)
{
    for (Py_ssize_t b = 0; b < B; b++) {
        const T s = scale ? scale[b] : (T)1;
        double tv = 0, an = 0;
        for (Py_ssize_t c = 0; c < C; c++) {
            const T *p = x + (b * C + c) * H * W;
            T *o = out + (b * C + c) * H * W;
            for (Py_ssize_t i = 0; i < H; i++) {
                const T *r = p + i * W;
                const T *up = i > 0 ? r - W : r, *dn = i < H - 1 ? r + W : r;
                if (do_tv && do_a)
                    FN_ROW(r, up, dn, o + i * W, W, s, (T)c_tv, (T)c_a, 1, 1, &tv, &an);
                else if (do_tv)
                    FN_ROW(r, up, dn, o + i * W, W, s, (T)c_tv, (T)c_a, 1, 0, &tv, &an);
                else if (do_a)
                    FN_ROW(r, up, dn, o + i * W, W, s, (T)c_tv, (T)c_a, 0, 1, &tv, &an);
                else
                    FN_ROW(r, up, dn, o + i * W, W, s, (T)c_tv, (T)c_a, 0, 0, &tv, &an);
            }
        }
        values[2 * b] = tv;
        values[2 * b + 1] = an;
    }
}
