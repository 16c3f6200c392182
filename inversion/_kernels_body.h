/* The kernels of _kernels.c, included once per element type: T (float or double), SQRT, and
 * NAME(f) giving each function its per-type name. See _kernels.c for what they compute. */

static inline __attribute__((always_inline)) void
NAME(row)(const T *restrict r, const T *restrict up, const T *restrict dn, T *restrict q, Py_ssize_t W,
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

/* Rows [r0, r1) of the B·C·H rows of the image; acc[2b], acc[2b+1] += TV², N₆ of item b. */
CLONES static void
NAME(rows)(const T *restrict x, T *restrict out, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, const T *scale,
        double c_tv, double c_a, int do_tv, int do_a, Py_ssize_t r0, Py_ssize_t r1, double *acc)
{
    for (Py_ssize_t R = r0; R < r1; R++) {
        const Py_ssize_t plane = R / H, i = R % H, b = plane / C;
        const T s = scale ? scale[b] : (T)1;
        const T *r = x + R * W;
        const T *up = i > 0 ? r - W : r, *dn = i < H - 1 ? r + W : r;
        T *q = out + R * W;
        double *tv = acc + 2 * b, *an = acc + 2 * b + 1;
        if (do_tv && do_a)
            NAME(row)(r, up, dn, q, W, s, (T)c_tv, (T)c_a, 1, 1, tv, an);
        else if (do_tv)
            NAME(row)(r, up, dn, q, W, s, (T)c_tv, (T)c_a, 1, 0, tv, an);
        else if (do_a)
            NAME(row)(r, up, dn, q, W, s, (T)c_tv, (T)c_a, 0, 1, tv, an);
        else
            NAME(row)(r, up, dn, q, W, s, (T)c_tv, (T)c_a, 0, 0, tv, an);
    }
}

/* Elements [e0, e1) of a (B, n) feature map: r = φ − φ₀ (φ₀ of batch 1 or B); acc[b] += Σ r². */
CLONES static void
NAME(residual)(const T *restrict phi, const T *restrict phi0, T *restrict r, Py_ssize_t n, int broadcast,
               Py_ssize_t e0, Py_ssize_t e1, double *acc)
{
    while (e0 < e1) {
        const Py_ssize_t b = e0 / n, end = (b + 1) * n < e1 ? (b + 1) * n : e1;
        const T *t = phi0 + (broadcast ? e0 - b * n : e0);
        double sum = 0;
        for (Py_ssize_t k = e0; k < end; k += 1024) {  /* blocks summed in T, blocks in double */
            const Py_ssize_t m = end - k < 1024 ? end - k : 1024;
            const T *p = phi + k, *q = t + (k - e0);
            T *o = r + k, part = 0;
#pragma omp simd reduction(+:part)
            for (Py_ssize_t j = 0; j < m; j++) {
                const T d = p[j] - q[j];
                o[j] = d;
                part += d * d;
            }
            sum += part;
        }
        acc[b] += sum;
        e0 = end;
    }
}

/* Heavy ball on elements [e0, e1): v ← μ·v + c·g; x ← x + v. */
CLONES static void
NAME(momentum)(T *restrict x, T *restrict v, const T *restrict g, T mu, T c, Py_ssize_t e0, Py_ssize_t e1)
{
    for (Py_ssize_t i = e0; i < e1; i++) {
        const T vi = mu * v[i] + c * g[i];
        v[i] = vi;
        x[i] += vi;
    }
}

/* IJCV'16 AdaGrad-momentum on elements [e0, e1): q ← μ·q + g²; v ← μ·v − g/(√q + 1/lr); x ← x + v. */
CLONES static void
NAME(adagrad)(T *restrict x, T *restrict v, T *restrict q, const T *restrict g, T mu, T inv_lr,
              Py_ssize_t e0, Py_ssize_t e1)
{
    for (Py_ssize_t i = e0; i < e1; i++) {
        const T gi = g[i], qi = mu * q[i] + gi * gi;
        const T vi = mu * v[i] - gi / (SQRT(qi) + inv_lr);
        q[i] = qi;
        v[i] = vi;
        x[i] += vi;
    }
}
