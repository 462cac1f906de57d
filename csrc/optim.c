/* optim.c: fused optimizer updates (SGD, Adagrad, RMSprop, Adam/AdamW) and
 * gradient clipping (global L2 norm, scaling, clamping) over lists of arrays.
 * Mirrors reference.sgd_update, adagrad_update, rmsprop_update, adam_update,
 * grad_norm, grad_scale, grad_clamp.
 *
 * Shapes: a list of n_arrays arrays, array a with sizes[a] elements; every
 * per-array pointer list (params, grads, state slots) is indexed alike. One
 * call updates the whole list with one pass over memory per array.
 *
 * Numerics: torch.optim's single-tensor formulas, operation for operation
 * (math: see the reference). Hyperparameters arrive as double and are rounded
 * to the array's dtype where torch rounds a Python scalar; derived scalars
 * (1 - beta, the bias corrections, lr / bias_correction1) are formed in double
 * first, as Python forms them. FMA contraction is off in this file, so each
 * product and sum is rounded separately and every ISA gives numpy's bits. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "internal.h"

#include <math.h>
#include <stdlib.h>

/* elements per parallel chunk, and per block of the norm's sum */
#define OPTIM_GRAIN 8192
#define OPTIM_NORM_BLOCK 4096
#define OPTIM_LANES 32
/* below this a float64 sum of squares may have lost bits to underflow */
#define OPTIM_SUMSQ_MIN 0x1p-968

enum { OPT_SGD = 0, OPT_ADAGRAD = 1, OPT_RMSPROP = 2, OPT_ADAM = 3 };

/* Every scalar an update needs, in double; the loops round them to T. */
typedef struct {
    double neg_lr;      /* SGD, RMSprop: -lr; Adagrad: -clr */
    double wd;          /* weight_decay */
    int wd_mode;        /* 0 none, 1 grad += wd * param, 2 param *= wd_mul (AdamW) */
    double wd_mul;      /* 1 - lr * weight_decay */
    double momentum;
    double omd;         /* 1 - dampening */
    int has_momentum, nesterov, first, centered;
    double alpha, oma;  /* RMSprop alpha, 1 - alpha */
    double lerp_w;      /* lerp weight: Adam 1 - beta1, centered RMSprop 1 - alpha */
    double beta2, omb2; /* beta2, 1 - beta2 */
    double eps;
    double bc2_sqrt;    /* sqrt(1 - beta2^step) */
    double neg_step;    /* -(lr / (1 - beta1^step)) */
} optim_coefs;

static int optim_state_count(int kind, const optim_coefs *c)
{
    switch (kind) {
    case OPT_SGD: return c->has_momentum;
    case OPT_ADAGRAD: return 1;
    case OPT_RMSPROP: return 1 + c->has_momentum + c->centered;
    default: return 2;
    }
}

typedef struct {
    void (*update[4])(float *, float *, float *, float *, const float *, fm_int,
                      const optim_coefs *);
    double (*sumsq_block)(const float *, fm_int, double);
    void (*scale_range)(float *, fm_int, double);
    void (*clamp_range)(float *, fm_int, double, double);
} optim_fns_f32;

typedef struct {
    void (*update[4])(double *, double *, double *, double *, const double *, fm_int,
                      const optim_coefs *);
    double (*sumsq_block)(const double *, fm_int, double);
    void (*scale_range)(double *, fm_int, double);
    void (*clamp_range)(double *, fm_int, double, double);
} optim_fns_f64;

/* ---- the element loops, per dtype and ISA */

#define T float
#define SQRT sqrtf
#define FNS_T optim_fns_f32
#define TGT
#define FN(name) name##_f32_generic
#include "optim_impl.h"
#undef TGT
#undef FN
#if FM_X86_SIMD
#define TGT FM_TARGET_AVX2
#define FN(name) name##_f32_avx2
#include "optim_impl.h"
#undef TGT
#undef FN
#define TGT FM_TARGET_AVX512
#define FN(name) name##_f32_avx512
#include "optim_impl.h"
#undef TGT
#undef FN
#endif
#define FNS_GENERIC fns_f32_generic
#define FNS_AVX2 fns_f32_avx2
#define FNS_AVX512 fns_f32_avx512
#define FN(name) name##_f32
#include "optim_driver_impl.h"
#undef FN
#undef FNS_GENERIC
#undef FNS_AVX2
#undef FNS_AVX512
#undef T
#undef SQRT
#undef FNS_T

#define T double
#define SQRT sqrt
#define FNS_T optim_fns_f64
#define TGT
#define FN(name) name##_f64_generic
#include "optim_impl.h"
#undef TGT
#undef FN
#if FM_X86_SIMD
#define TGT FM_TARGET_AVX2
#define FN(name) name##_f64_avx2
#include "optim_impl.h"
#undef TGT
#undef FN
#define TGT FM_TARGET_AVX512
#define FN(name) name##_f64_avx512
#include "optim_impl.h"
#undef TGT
#undef FN
#endif
#define FNS_GENERIC fns_f64_generic
#define FNS_AVX2 fns_f64_avx2
#define FNS_AVX512 fns_f64_avx512
#define FN(name) name##_f64
#include "optim_driver_impl.h"
#undef FN
#undef FNS_GENERIC
#undef FNS_AVX2
#undef FNS_AVX512
#undef T
#undef SQRT
#undef FNS_T

/* ---- the scalars of each rule (math: see reference.*_update) */

static optim_coefs sgd_coefs(double lr, double momentum, double dampening, double weight_decay,
                             int nesterov, int first)
{
    optim_coefs c = {0};
    c.neg_lr = -lr;
    c.wd = weight_decay;
    c.wd_mode = weight_decay != 0.0;
    c.momentum = momentum;
    c.omd = 1.0 - dampening;
    c.has_momentum = momentum != 0.0;
    c.nesterov = nesterov;
    c.first = first;
    return c;
}

static optim_coefs adagrad_coefs(double clr, double eps, double weight_decay)
{
    optim_coefs c = {0};
    c.neg_lr = -clr;
    c.wd = weight_decay;
    c.wd_mode = weight_decay != 0.0;
    c.eps = eps;
    return c;
}

static optim_coefs rmsprop_coefs(double lr, double alpha, double eps, double momentum,
                                 double weight_decay, int centered)
{
    optim_coefs c = {0};
    c.neg_lr = -lr;
    c.wd = weight_decay;
    c.wd_mode = weight_decay != 0.0;
    c.alpha = alpha;
    c.oma = 1.0 - alpha;
    c.lerp_w = 1.0 - alpha;
    c.eps = eps;
    c.momentum = momentum;
    c.has_momentum = momentum > 0.0;
    c.centered = centered;
    return c;
}

static optim_coefs adam_coefs(double lr, double beta1, double beta2, double eps,
                              double weight_decay, int decoupled, fm_int step)
{
    optim_coefs c = {0};
    c.wd = weight_decay;
    c.wd_mode = weight_decay != 0.0 ? (decoupled ? 2 : 1) : 0;
    c.wd_mul = 1.0 - lr * weight_decay;
    c.lerp_w = 1.0 - beta1;
    c.beta2 = beta2;
    c.omb2 = 1.0 - beta2;
    c.eps = eps;
    /* step is a float in torch (a float32 tensor's item()); exact below 2^24 */
    double s = (double)step;
    double bc1 = 1.0 - pow(beta1, s);
    c.bc2_sqrt = sqrt(1.0 - pow(beta2, s));
    c.neg_step = -(lr / bc1);
    return c;
}

/* ---- the API, per dtype */

#define T float
#define FN(name) name##_f32
#include "optim_api_impl.h"
#undef T
#undef FN

#define T double
#define FN(name) name##_f64
#include "optim_api_impl.h"
#undef T
#undef FN
