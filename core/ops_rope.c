/* core/ops_rope.c — rotary position embedding, in place (core/ops.h).
 *
 * For token t and pair i < n_rot/2, the angle is pos[t]·inv_freq[i], taken in
 * double precision (positions reach 131 072; a float product would lose the
 * low bits of the angle).  The pair is (2i, 2i+1) for HD_ROPE_INTERLEAVED and
 * (i, i + n_rot/2) for HD_ROPE_NEOX; (a, b) becomes (a·cos − b·sin, a·sin + b·cos).
 * Dimensions past n_rot are left alone.  Tokens are split across the pool;
 * cos/sin are computed once per token and shared by its heads.
 */
#include "ops.h"
#include "ops_internal.h"

#include "backend.h"

#include <math.h>

#define ROPE_PAIRS_PER_PASS 128 /* cos/sin table on the stack: 2 × 128 floats */

typedef struct {
    const hd_tensor *x;
    const int32_t *pos;
    const float *inv_freq;
    int n_rot;
    hd_rope_mode mode;
} rope_ctx;

static void rope_tokens(void *p, int64_t tb, int64_t te, int tid) {
    (void)tid;
    const rope_ctx *c = p;
    const hd_tensor *x = c->x;
    const int half = c->n_rot / 2;
    float cs[ROPE_PAIRS_PER_PASS], sn[ROPE_PAIRS_PER_PASS];
    for (int64_t t = tb; t < te; t++) {
        const double pos = (double)c->pos[t];
        for (int i0 = 0; i0 < half; i0 += ROPE_PAIRS_PER_PASS) {
            const int m = half - i0 < ROPE_PAIRS_PER_PASS ? half - i0 : ROPE_PAIRS_PER_PASS;
            for (int i = 0; i < m; i++) {
                double sa, ca;
                sincos(pos * (double)c->inv_freq[i0 + i], &sa, &ca);
                cs[i] = (float)ca;
                sn[i] = (float)sa;
            }
            for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
                for (int64_t h = 0; h < x->ne[1]; h++) {
                    float *v = (float *)hd_tensor_row(x, h, t, i3);
                    if (c->mode == HD_ROPE_INTERLEAVED) {
                        for (int i = 0; i < m; i++) {
                            float *q = v + 2 * (i0 + i);
                            float a = q[0], b = q[1];
                            q[0] = a * cs[i] - b * sn[i];
                            q[1] = a * sn[i] + b * cs[i];
                        }
                    } else {
                        float *lo = v + i0, *hi = v + i0 + half;
                        for (int i = 0; i < m; i++) {
                            float a = lo[i], b = hi[i];
                            lo[i] = a * cs[i] - b * sn[i];
                            hi[i] = a * sn[i] + b * cs[i];
                        }
                    }
                }
        }
    }
}

hd_status hd_op_rope(hd_exec *ex, hd_tensor *x, const int32_t *pos, const float *inv_freq, int n_rot,
                     hd_rope_mode mode, hd_error *err) {
    hd_status st;
    if ((st = hd_ops_check_backend("rope", ex, err))) return st;
    if ((st = hd_ops_check("rope", "x", x, HD_TYPE_F32, err))) return st;
    if (mode != HD_ROPE_INTERLEAVED && mode != HD_ROPE_NEOX)
        return hd_error_set(err, HD_ERR_ARG, "rope: unknown mode %d", (int)mode);
    if (n_rot < 0 || n_rot % 2 != 0 || n_rot > x->ne[0])
        return hd_error_set(err, HD_ERR_ARG, "rope: n_rot %d must be even and within the head size %lld", n_rot,
                            (long long)x->ne[0]);
    const int64_t T = x->ne[2];
    if (n_rot == 0 || T == 0 || x->ne[1] == 0) return HD_OK;
    if (!pos || !inv_freq) return hd_error_set(err, HD_ERR_ARG, "rope: positions or frequencies missing");
    const hd_backend_ops *bk = hd_backend_of(ex, "rope", &st, err);
    if (bk) return bk->rope(ex, x, pos, inv_freq, n_rot, mode, err);
    rope_ctx c = {x, pos, inv_freq, n_rot, mode};
    hd_parallel_for(hd_ops_pool(ex), T, hd_ops_row_grain(x->ne[0] * x->ne[1]), rope_tokens, &c);
    return HD_OK;
}
