/* pooling.c: max and average pooling over the (H, W) planes of (N, C, H, W),
 * no padding, windows kh x kw every (sh, sw) (overlapping windows allowed).
 * Mirrors reference.maxpool2d_forward / _backward and reference.avgpool2d_forward
 * / _backward. Shapes: x, dx (planes, h, w); y, dy, argmax (planes, ho, wo) with
 * planes = N * C, ho = (h - kh) / sh + 1, wo = (w - kw) / sw + 1.
 *
 * Threads take whole planes, so every output and every accumulation on
 * overlapping windows happens in one fixed order. Max: the first maximum in
 * row-major window order wins, NaN counts as the maximum (as numpy's max);
 * argmax is the plane index h * w_in + w (int32). Average: windows summed in
 * row-major offset order, then divided by kh * kw, as the reference does. */
#include "internal.h"

#include <string.h>

typedef struct {
    void *out;
    int32_t *argmax;
    const void *in;
    const int32_t *cargmax;
    fm_int h, w, ho, wo, kh, kw, sh, sw;
} pool_ctx;

#define POOL_GBUF 2048 /* outputs of a plane whose dy / k is precomputed on the stack */

#define T float
#define FN(name) name##_f32
#include "pooling_impl.h"
#undef T
#undef FN

#define T double
#define FN(name) name##_f64
#include "pooling_impl.h"
#undef T
#undef FN
