# BatchNorm, dropout, counter-based RNG, pooling (csrc/batchnorm.c dropout.c rng.c pooling.c).
# Included by _kernels.pyx; arguments were checked by fastmlp.ops.
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int32_t

cdef extern from "fastmlp.h" nogil:
    void fm_rng_bits(uint32_t *out, fm_int n, uint64_t seed, uint64_t counter, int n_threads)
    void fm_rng_uniform_f32(float *out, fm_int n, uint64_t seed, uint64_t counter, int n_threads)
    void fm_rng_uniform_f64(double *out, fm_int n, uint64_t seed, uint64_t counter, int n_threads)
    void fm_dropout_forward_f32(float *y, uint8_t *mask, const float *x, fm_int n, double p,
                                uint64_t seed, uint64_t counter, int n_threads)
    void fm_dropout_forward_f64(double *y, uint8_t *mask, const double *x, fm_int n, double p,
                                uint64_t seed, uint64_t counter, int n_threads)
    void fm_dropout_backward_f32(float *dx, const float *dy, const uint8_t *mask, fm_int n,
                                 double p, int n_threads)
    void fm_dropout_backward_f64(double *dx, const double *dy, const uint8_t *mask, fm_int n,
                                 double p, int n_threads)
    int fm_batchnorm_forward_train_f32(float *y, float *mean, float *rstd, float *running_mean,
                                       float *running_var, const float *x, const float *gamma,
                                       const float *beta, fm_int n, fm_int d, double momentum,
                                       double eps, int n_threads)
    int fm_batchnorm_forward_train_f64(double *y, double *mean, double *rstd, double *running_mean,
                                       double *running_var, const double *x, const double *gamma,
                                       const double *beta, fm_int n, fm_int d, double momentum,
                                       double eps, int n_threads)
    int fm_batchnorm_forward_eval_f32(float *y, const float *x, const float *gamma,
                                      const float *beta, const float *running_mean,
                                      const float *running_var, fm_int n, fm_int d, double eps,
                                      int n_threads)
    int fm_batchnorm_forward_eval_f64(double *y, const double *x, const double *gamma,
                                      const double *beta, const double *running_mean,
                                      const double *running_var, fm_int n, fm_int d, double eps,
                                      int n_threads)
    int fm_batchnorm_backward_f32(float *dx, float *dgamma, float *dbeta, const float *dy,
                                  const float *x, const float *mean, const float *rstd,
                                  const float *gamma, fm_int n, fm_int d, int training,
                                  int n_threads)
    int fm_batchnorm_backward_f64(double *dx, double *dgamma, double *dbeta, const double *dy,
                                  const double *x, const double *mean, const double *rstd,
                                  const double *gamma, fm_int n, fm_int d, int training,
                                  int n_threads)
    void fm_maxpool2d_forward_f32(float *y, int32_t *argmax, const float *x, fm_int planes,
                                  fm_int h, fm_int w, fm_int kh, fm_int kw, fm_int sh, fm_int sw,
                                  int n_threads)
    void fm_maxpool2d_forward_f64(double *y, int32_t *argmax, const double *x, fm_int planes,
                                  fm_int h, fm_int w, fm_int kh, fm_int kw, fm_int sh, fm_int sw,
                                  int n_threads)
    void fm_maxpool2d_backward_f32(float *dx, const float *dy, const int32_t *argmax,
                                   fm_int planes, fm_int h, fm_int w, fm_int ho, fm_int wo,
                                   int n_threads)
    void fm_maxpool2d_backward_f64(double *dx, const double *dy, const int32_t *argmax,
                                   fm_int planes, fm_int h, fm_int w, fm_int ho, fm_int wo,
                                   int n_threads)
    void fm_avgpool2d_forward_f32(float *y, const float *x, fm_int planes, fm_int h, fm_int w,
                                  fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads)
    void fm_avgpool2d_forward_f64(double *y, const double *x, fm_int planes, fm_int h, fm_int w,
                                  fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads)
    void fm_avgpool2d_backward_f32(float *dx, const float *dy, fm_int planes, fm_int h, fm_int w,
                                   fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads)
    void fm_avgpool2d_backward_f64(double *dx, const double *dy, fm_int planes, fm_int h,
                                   fm_int w, fm_int kh, fm_int kw, fm_int sh, fm_int sw,
                                   int n_threads)


# ----------------------------------------------------------------------- rng

def rng_bits(cnp.ndarray out not None, uint64_t seed, uint64_t counter, int n_threads):
    cdef fm_int n = cnp.PyArray_SIZE(out)
    with nogil:
        fm_rng_bits(<uint32_t *>cnp.PyArray_DATA(out), n, seed, counter, n_threads)
    return out


def rng_uniform(cnp.ndarray out not None, uint64_t seed, uint64_t counter, int n_threads):
    cdef fm_int n = cnp.PyArray_SIZE(out)
    if is_f32(out):
        with nogil:
            fm_rng_uniform_f32(<float *>cnp.PyArray_DATA(out), n, seed, counter, n_threads)
    else:
        with nogil:
            fm_rng_uniform_f64(<double *>cnp.PyArray_DATA(out), n, seed, counter, n_threads)
    return out


# ------------------------------------------------------------------- dropout

def dropout_forward(cnp.ndarray y not None, cnp.ndarray mask not None, cnp.ndarray x not None,
                    double p, uint64_t seed, uint64_t counter, int n_threads):
    cdef fm_int n = cnp.PyArray_SIZE(x)
    if is_f32(x):
        with nogil:
            fm_dropout_forward_f32(<float *>cnp.PyArray_DATA(y), <uint8_t *>cnp.PyArray_DATA(mask), <const float *>cnp.PyArray_DATA(x),
                                   n, p, seed, counter, n_threads)
    else:
        with nogil:
            fm_dropout_forward_f64(<double *>cnp.PyArray_DATA(y), <uint8_t *>cnp.PyArray_DATA(mask), <const double *>cnp.PyArray_DATA(x),
                                   n, p, seed, counter, n_threads)
    return y, mask


def dropout_backward(cnp.ndarray dx not None, cnp.ndarray dy not None, cnp.ndarray mask not None,
                     double p, int n_threads):
    cdef fm_int n = cnp.PyArray_SIZE(dy)
    if is_f32(dy):
        with nogil:
            fm_dropout_backward_f32(<float *>cnp.PyArray_DATA(dx), <const float *>cnp.PyArray_DATA(dy),
                                    <const uint8_t *>cnp.PyArray_DATA(mask), n, p, n_threads)
    else:
        with nogil:
            fm_dropout_backward_f64(<double *>cnp.PyArray_DATA(dx), <const double *>cnp.PyArray_DATA(dy),
                                    <const uint8_t *>cnp.PyArray_DATA(mask), n, p, n_threads)
    return dx


# ----------------------------------------------------------------- batchnorm

cdef int bn_check(int rc) except -1:
    if rc != 0:
        raise MemoryError("fastmlp: cannot allocate the BatchNorm workspace")
    return 0


def batchnorm_forward_train(cnp.ndarray y not None, cnp.ndarray mean not None,
                            cnp.ndarray rstd not None, cnp.ndarray running_mean not None,
                            cnp.ndarray running_var not None, cnp.ndarray x not None,
                            cnp.ndarray gamma not None, cnp.ndarray beta not None,
                            double momentum, double eps, int n_threads):
    cdef fm_int n = x.shape[0], d = x.shape[1]
    cdef int rc
    if is_f32(x):
        with nogil:
            rc = fm_batchnorm_forward_train_f32(
                <float *>cnp.PyArray_DATA(y), <float *>cnp.PyArray_DATA(mean), <float *>cnp.PyArray_DATA(rstd), <float *>cnp.PyArray_DATA(running_mean),
                <float *>cnp.PyArray_DATA(running_var), <const float *>cnp.PyArray_DATA(x), <const float *>cnp.PyArray_DATA(gamma),
                <const float *>cnp.PyArray_DATA(beta), n, d, momentum, eps, n_threads)
    else:
        with nogil:
            rc = fm_batchnorm_forward_train_f64(
                <double *>cnp.PyArray_DATA(y), <double *>cnp.PyArray_DATA(mean), <double *>cnp.PyArray_DATA(rstd),
                <double *>cnp.PyArray_DATA(running_mean), <double *>cnp.PyArray_DATA(running_var), <const double *>cnp.PyArray_DATA(x),
                <const double *>cnp.PyArray_DATA(gamma), <const double *>cnp.PyArray_DATA(beta), n, d, momentum, eps,
                n_threads)
    bn_check(rc)
    return y, mean, rstd


def batchnorm_forward_eval(cnp.ndarray y not None, cnp.ndarray x not None,
                           cnp.ndarray gamma not None, cnp.ndarray beta not None,
                           cnp.ndarray running_mean not None, cnp.ndarray running_var not None,
                           double eps, int n_threads):
    cdef fm_int n = x.shape[0], d = x.shape[1]
    cdef int rc
    if is_f32(x):
        with nogil:
            rc = fm_batchnorm_forward_eval_f32(
                <float *>cnp.PyArray_DATA(y), <const float *>cnp.PyArray_DATA(x), <const float *>cnp.PyArray_DATA(gamma),
                <const float *>cnp.PyArray_DATA(beta), <const float *>cnp.PyArray_DATA(running_mean),
                <const float *>cnp.PyArray_DATA(running_var), n, d, eps, n_threads)
    else:
        with nogil:
            rc = fm_batchnorm_forward_eval_f64(
                <double *>cnp.PyArray_DATA(y), <const double *>cnp.PyArray_DATA(x), <const double *>cnp.PyArray_DATA(gamma),
                <const double *>cnp.PyArray_DATA(beta), <const double *>cnp.PyArray_DATA(running_mean),
                <const double *>cnp.PyArray_DATA(running_var), n, d, eps, n_threads)
    bn_check(rc)
    return y


def batchnorm_backward(cnp.ndarray dx not None, cnp.ndarray dgamma not None,
                       cnp.ndarray dbeta not None, cnp.ndarray dy not None, cnp.ndarray x not None,
                       cnp.ndarray mean not None, cnp.ndarray rstd not None,
                       cnp.ndarray gamma not None, bint training, int n_threads):
    cdef fm_int n = x.shape[0], d = x.shape[1]
    cdef int rc
    if is_f32(x):
        with nogil:
            rc = fm_batchnorm_backward_f32(
                <float *>cnp.PyArray_DATA(dx), <float *>cnp.PyArray_DATA(dgamma), <float *>cnp.PyArray_DATA(dbeta), <const float *>cnp.PyArray_DATA(dy),
                <const float *>cnp.PyArray_DATA(x), <const float *>cnp.PyArray_DATA(mean), <const float *>cnp.PyArray_DATA(rstd),
                <const float *>cnp.PyArray_DATA(gamma), n, d, training, n_threads)
    else:
        with nogil:
            rc = fm_batchnorm_backward_f64(
                <double *>cnp.PyArray_DATA(dx), <double *>cnp.PyArray_DATA(dgamma), <double *>cnp.PyArray_DATA(dbeta),
                <const double *>cnp.PyArray_DATA(dy), <const double *>cnp.PyArray_DATA(x), <const double *>cnp.PyArray_DATA(mean),
                <const double *>cnp.PyArray_DATA(rstd), <const double *>cnp.PyArray_DATA(gamma), n, d, training, n_threads)
    bn_check(rc)
    return dx, dgamma, dbeta


# ------------------------------------------------------------------- pooling

def maxpool2d_forward(cnp.ndarray y not None, cnp.ndarray argmax not None, cnp.ndarray x not None,
                      fm_int kh, fm_int kw, fm_int sh, fm_int sw, int n_threads):
    cdef fm_int planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
    if is_f32(x):
        with nogil:
            fm_maxpool2d_forward_f32(<float *>cnp.PyArray_DATA(y), <int32_t *>cnp.PyArray_DATA(argmax), <const float *>cnp.PyArray_DATA(x),
                                     planes, h, w, kh, kw, sh, sw, n_threads)
    else:
        with nogil:
            fm_maxpool2d_forward_f64(<double *>cnp.PyArray_DATA(y), <int32_t *>cnp.PyArray_DATA(argmax),
                                     <const double *>cnp.PyArray_DATA(x), planes, h, w, kh, kw, sh, sw,
                                     n_threads)
    return y, argmax


def maxpool2d_backward(cnp.ndarray dx not None, cnp.ndarray dy not None,
                       cnp.ndarray argmax not None, int n_threads):
    cdef fm_int planes = dx.shape[0] * dx.shape[1], h = dx.shape[2], w = dx.shape[3]
    cdef fm_int ho = dy.shape[2], wo = dy.shape[3]
    if is_f32(dx):
        with nogil:
            fm_maxpool2d_backward_f32(<float *>cnp.PyArray_DATA(dx), <const float *>cnp.PyArray_DATA(dy),
                                      <const int32_t *>cnp.PyArray_DATA(argmax), planes, h, w, ho, wo, n_threads)
    else:
        with nogil:
            fm_maxpool2d_backward_f64(<double *>cnp.PyArray_DATA(dx), <const double *>cnp.PyArray_DATA(dy),
                                      <const int32_t *>cnp.PyArray_DATA(argmax), planes, h, w, ho, wo, n_threads)
    return dx


def avgpool2d_forward(cnp.ndarray y not None, cnp.ndarray x not None, fm_int kh, fm_int kw,
                      fm_int sh, fm_int sw, int n_threads):
    cdef fm_int planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
    if is_f32(x):
        with nogil:
            fm_avgpool2d_forward_f32(<float *>cnp.PyArray_DATA(y), <const float *>cnp.PyArray_DATA(x), planes, h, w, kh, kw,
                                     sh, sw, n_threads)
    else:
        with nogil:
            fm_avgpool2d_forward_f64(<double *>cnp.PyArray_DATA(y), <const double *>cnp.PyArray_DATA(x), planes, h, w, kh, kw,
                                     sh, sw, n_threads)
    return y


def avgpool2d_backward(cnp.ndarray dx not None, cnp.ndarray dy not None, fm_int kh, fm_int kw,
                       fm_int sh, fm_int sw, int n_threads):
    cdef fm_int planes = dx.shape[0] * dx.shape[1], h = dx.shape[2], w = dx.shape[3]
    if is_f32(dx):
        with nogil:
            fm_avgpool2d_backward_f32(<float *>cnp.PyArray_DATA(dx), <const float *>cnp.PyArray_DATA(dy), planes, h, w, kh,
                                      kw, sh, sw, n_threads)
    else:
        with nogil:
            fm_avgpool2d_backward_f64(<double *>cnp.PyArray_DATA(dx), <const double *>cnp.PyArray_DATA(dy), planes, h, w, kh,
                                      kw, sh, sw, n_threads)
    return dx
