/* dropout.c: inverted dropout, forward and backward. Mirrors
 * reference.dropout_forward / reference.dropout_backward (and
 * reference.dropout_uniform for the random numbers).
 * Shapes: x, y, dy, dx, mask (n,) flat; mask is uint8 0/1.
 *
 * keep_i = u_i >= T with T = ceil(p * 2^24) and the 24-bit u_i = b_i * 2^16 + r_i:
 * b_i is byte i of the rng.h bit stream (one Philox word serves 4 elements) and
 * decides alone unless b_i == T >> 16 (1 element in 256), when the 16 bits r_i of
 * a one-off Philox draw keyed by i decide. So the mask depends only on (seed,
 * counter, i), and the generator costs a quarter of a word per element. The bits
 * of a 1024-element tile are generated into an L1 buffer and applied right away:
 * x is read once, y and the mask written once. y = x * (keep ? scale : 0) is a
 * multiplication (NaN/Inf in dropped elements give NaN, as in PyTorch). The
 * bodies are written once for both dtypes in dropout_impl.h (where T is the
 * dtype, not this threshold). */
#include "rng.h"

#include <math.h>
#include <string.h>

#define DROP_CHUNK 1024 /* elements per tile: 256 Philox words, 4 groups */

typedef struct {
    void *y;
    uint8_t *mask;
    const void *x;
    double scale;
    int32_t thi, tlo; /* T >> 16 (0..256) and T & 0xFFFF */
    uint64_t seed, stream;
} drop_ctx;

/* the thresholds of p, then the tiles over threads (range: the dtype's body) */
static void dropout_forward(void *y, uint8_t *mask, const void *x, fm_int n, double p,
                            uint64_t seed, uint64_t stream, fm_range_fn range, int n_threads)
{
    drop_ctx c;
    c.y = y;
    c.mask = mask;
    c.x = x;
    c.scale = 1.0 / (1.0 - p);
    const int32_t t = (int32_t)ceil(p * 16777216.0); /* p * 2^24 is exact; T <= 2^24 since p < 1 */
    c.thi = t >> 16;
    c.tlo = t & 0xFFFF;
    c.seed = seed;
    c.stream = stream;
    int nt = fm_threads_for(0.5 * (double)n, n_threads);
    fm_parallel_for(n, DROP_CHUNK, nt, range, &c);
}

typedef struct {
    void *dx;
    const void *dy;
    const uint8_t *mask;
    double scale;
} dropb_ctx;

#define T float
#define FN(name) name##_f32
#include "dropout_impl.h"
#undef T
#undef FN

#define T double
#define FN(name) name##_f64
#include "dropout_impl.h"
#undef T
#undef FN
