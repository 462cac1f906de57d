# ---- dense, activations, losses, penalties (csrc/dense.c activations.c loss.c penalty.c)
# Included by _kernels.pyx. Same names and argument order as fastmlp.reference;
# fastmlp.ops has checked every array. Optional arrays are None -> NULL.

cdef extern from "fastmlp.h" nogil:
    void fm_activation_forward_f32(float *y, const float *x, fm_int n, fm_act act, float param, int n_threads)
    void fm_activation_forward_f64(double *y, const double *x, fm_int n, fm_act act, double param, int n_threads)
    void fm_activation_backward_f32(float *dx, const float *dy, const float *y, fm_int n, fm_act act,
                                    float param, int n_threads)
    void fm_activation_backward_f64(double *dx, const double *dy, const double *y, fm_int n, fm_act act,
                                    double param, int n_threads)
    void fm_softmax_forward_f32(float *y, const float *x, fm_int n, fm_int c, int n_threads)
    void fm_softmax_forward_f64(double *y, const double *x, fm_int n, fm_int c, int n_threads)
    void fm_softmax_backward_f32(float *dx, const float *dy, const float *y, fm_int n, fm_int c, int n_threads)
    void fm_softmax_backward_f64(double *dx, const double *dy, const double *y, fm_int n, fm_int c, int n_threads)
    int fm_dense_forward_f32(float *y, const float *x, const float *W, const float *b, fm_int n,
                             fm_int d_in, fm_int d_out, fm_act act, float param, int n_threads)
    int fm_dense_forward_f64(double *y, const double *x, const double *W, const double *b, fm_int n,
                             fm_int d_in, fm_int d_out, fm_act act, double param, int n_threads)
    int fm_dense_backward_f32(float *dx, float *dW, float *db, float *dz, const float *dy, const float *x,
                              const float *W, const float *y, fm_int n, fm_int d_in, fm_int d_out,
                              fm_act act, float param, int n_threads)
    int fm_dense_backward_f64(double *dx, double *dW, double *db, double *dz, const double *dy,
                              const double *x, const double *W, const double *y, fm_int n, fm_int d_in,
                              fm_int d_out, fm_act act, double param, int n_threads)
    fm_int fm_labels_check(const int64_t *labels, fm_int n, fm_int c)
    double fm_softmax_cross_entropy_f32(float *grad, const float *logits, const int64_t *labels,
                                        fm_int n, fm_int c, int n_threads)
    double fm_softmax_cross_entropy_f64(double *grad, const double *logits, const int64_t *labels,
                                        fm_int n, fm_int c, int n_threads)
    double fm_softmax_cross_entropy_probs_f32(float *grad, const float *logits, const float *target,
                                              fm_int n, fm_int c, int n_threads)
    double fm_softmax_cross_entropy_probs_f64(double *grad, const double *logits, const double *target,
                                              fm_int n, fm_int c, int n_threads)
    double fm_kl_div_f32(float *grad, const float *logits, const float *target, fm_int n, fm_int c,
                         int n_threads)
    double fm_kl_div_f64(double *grad, const double *logits, const double *target, fm_int n, fm_int c,
                         int n_threads)
    double fm_mse_f32(float *grad, const float *output, const float *target, fm_int size, int n_threads)
    double fm_mse_f64(double *grad, const double *output, const double *target, fm_int size, int n_threads)
    double fm_bce_with_logits_f32(float *grad, const float *logits, const float *target, fm_int size,
                                  int n_threads)
    double fm_bce_with_logits_f64(double *grad, const double *logits, const double *target, fm_int size,
                                  int n_threads)
    double fm_penalty_f32(float *grad, const float *w, fm_int size, double l1, double l2, int n_threads)
    double fm_penalty_f64(double *grad, const double *w, fm_int size, double l1, double l2, int n_threads)


ACT_CODES = {"identity": FM_ACT_NONE, "relu": FM_ACT_RELU, "sigmoid": FM_ACT_SIGMOID,
             "tanh": FM_ACT_TANH, "leaky_relu": FM_ACT_LEAKY_RELU, "elu": FM_ACT_ELU}


cdef inline void *ptr_or_null(object a):
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


cdef inline void *ptr(cnp.ndarray a):
    return cnp.PyArray_DATA(a)


def activation_forward(cnp.ndarray y not None, cnp.ndarray x not None, str act, double param,
                       int n_threads):
    cdef fm_act a = <fm_act>ACT_CODES[act]
    cdef fm_int n = cnp.PyArray_SIZE(x)
    cdef void *py = ptr(y)
    cdef void *px = ptr(x)
    if is_f32(x):
        with nogil:
            fm_activation_forward_f32(<float *>py, <const float *>px, n, a, <float>param, n_threads)
    else:
        with nogil:
            fm_activation_forward_f64(<double *>py, <const double *>px, n, a, param, n_threads)
    return y


def activation_backward(cnp.ndarray dx not None, cnp.ndarray dy not None, cnp.ndarray y not None,
                        str act, double param, int n_threads):
    cdef fm_act a = <fm_act>ACT_CODES[act]
    cdef fm_int n = cnp.PyArray_SIZE(y)
    cdef void *pdx = ptr(dx)
    cdef void *pdy = ptr(dy)
    cdef void *py = ptr(y)
    if is_f32(y):
        with nogil:
            fm_activation_backward_f32(<float *>pdx, <const float *>pdy, <const float *>py, n, a,
                                       <float>param, n_threads)
    else:
        with nogil:
            fm_activation_backward_f64(<double *>pdx, <const double *>pdy, <const double *>py, n, a,
                                       param, n_threads)
    return dx


def softmax_forward(cnp.ndarray y not None, cnp.ndarray x not None, int n_threads):
    cdef fm_int n = x.shape[0], c = x.shape[1]
    cdef void *py = ptr(y)
    cdef void *px = ptr(x)
    if is_f32(x):
        with nogil:
            fm_softmax_forward_f32(<float *>py, <const float *>px, n, c, n_threads)
    else:
        with nogil:
            fm_softmax_forward_f64(<double *>py, <const double *>px, n, c, n_threads)
    return y


def softmax_backward(cnp.ndarray dx not None, cnp.ndarray dy not None, cnp.ndarray y not None,
                     int n_threads):
    cdef fm_int n = y.shape[0], c = y.shape[1]
    cdef void *pdx = ptr(dx)
    cdef void *pdy = ptr(dy)
    cdef void *py = ptr(y)
    if is_f32(y):
        with nogil:
            fm_softmax_backward_f32(<float *>pdx, <const float *>pdy, <const float *>py, n, c, n_threads)
    else:
        with nogil:
            fm_softmax_backward_f64(<double *>pdx, <const double *>pdy, <const double *>py, n, c, n_threads)
    return dx


def dense_forward(cnp.ndarray y not None, cnp.ndarray x not None, cnp.ndarray W not None, b,
                  str act, double param, int n_threads):
    cdef fm_act a = <fm_act>ACT_CODES[act]
    cdef fm_int n = x.shape[0], d_in = x.shape[1], d_out = W.shape[1]
    cdef void *py = ptr(y)
    cdef void *px = ptr(x)
    cdef void *pw = ptr(W)
    cdef void *pb = ptr_or_null(b)
    cdef int rc
    if is_f32(x):
        with nogil:
            rc = fm_dense_forward_f32(<float *>py, <const float *>px, <const float *>pw, <const float *>pb,
                                      n, d_in, d_out, a, <float>param, n_threads)
    else:
        with nogil:
            rc = fm_dense_forward_f64(<double *>py, <const double *>px, <const double *>pw,
                                      <const double *>pb, n, d_in, d_out, a, param, n_threads)
    if rc != 0:
        raise MemoryError("fastmlp: cannot allocate the GEMM packing workspace")
    return y


def dense_backward(dx, cnp.ndarray dW not None, db, dz, cnp.ndarray dy not None, cnp.ndarray x not None,
                   cnp.ndarray W not None, y, str act, double param, int n_threads):
    cdef fm_act a = <fm_act>ACT_CODES[act]
    cdef fm_int n = x.shape[0], d_in = x.shape[1], d_out = W.shape[1]
    cdef void *pdx = ptr_or_null(dx)
    cdef void *pdw = ptr(dW)
    cdef void *pdb = ptr_or_null(db)
    cdef void *pdz = ptr_or_null(dz)
    cdef void *pdy = ptr(dy)
    cdef void *px = ptr(x)
    cdef void *pw = ptr(W)
    cdef void *py = ptr_or_null(y)
    cdef int rc
    if is_f32(x):
        with nogil:
            rc = fm_dense_backward_f32(<float *>pdx, <float *>pdw, <float *>pdb, <float *>pdz,
                                       <const float *>pdy, <const float *>px, <const float *>pw,
                                       <const float *>py, n, d_in, d_out, a, <float>param, n_threads)
    else:
        with nogil:
            rc = fm_dense_backward_f64(<double *>pdx, <double *>pdw, <double *>pdb, <double *>pdz,
                                       <const double *>pdy, <const double *>px, <const double *>pw,
                                       <const double *>py, n, d_in, d_out, a, param, n_threads)
    if rc != 0:
        raise MemoryError("fastmlp: cannot allocate the GEMM packing workspace")
    return dx, dW, db


def softmax_cross_entropy(grad, cnp.ndarray logits not None, cnp.ndarray labels not None, int n_threads):
    cdef fm_int n = logits.shape[0], c = logits.shape[1]
    cdef void *pg = ptr_or_null(grad)
    cdef void *px = ptr(logits)
    cdef const int64_t *pl = <const int64_t *>ptr(labels)
    cdef fm_int bad
    cdef double loss
    with nogil:
        bad = fm_labels_check(pl, n, c)
    if bad >= 0:
        from fastmlp.reference import label_error
        raise ValueError(label_error(labels, bad, c))
    if is_f32(logits):
        with nogil:
            loss = fm_softmax_cross_entropy_f32(<float *>pg, <const float *>px, pl, n, c, n_threads)
    else:
        with nogil:
            loss = fm_softmax_cross_entropy_f64(<double *>pg, <const double *>px, pl, n, c, n_threads)
    return loss, grad


def softmax_cross_entropy_probs(grad, cnp.ndarray logits not None, cnp.ndarray target not None,
                                int n_threads):
    cdef fm_int n = logits.shape[0], c = logits.shape[1]
    cdef void *pg = ptr_or_null(grad)
    cdef void *px = ptr(logits)
    cdef void *pt = ptr(target)
    cdef double loss
    if is_f32(logits):
        with nogil:
            loss = fm_softmax_cross_entropy_probs_f32(<float *>pg, <const float *>px, <const float *>pt,
                                                      n, c, n_threads)
    else:
        with nogil:
            loss = fm_softmax_cross_entropy_probs_f64(<double *>pg, <const double *>px,
                                                      <const double *>pt, n, c, n_threads)
    return loss, grad


def kl_div(grad, cnp.ndarray logits not None, cnp.ndarray target not None, int n_threads):
    cdef fm_int n = logits.shape[0], c = logits.shape[1]
    cdef void *pg = ptr_or_null(grad)
    cdef void *px = ptr(logits)
    cdef void *pt = ptr(target)
    cdef double loss
    if is_f32(logits):
        with nogil:
            loss = fm_kl_div_f32(<float *>pg, <const float *>px, <const float *>pt, n, c, n_threads)
    else:
        with nogil:
            loss = fm_kl_div_f64(<double *>pg, <const double *>px, <const double *>pt, n, c, n_threads)
    return loss, grad


def mse(grad, cnp.ndarray output not None, cnp.ndarray target not None, int n_threads):
    cdef fm_int size = cnp.PyArray_SIZE(output)
    cdef void *pg = ptr_or_null(grad)
    cdef void *po = ptr(output)
    cdef void *pt = ptr(target)
    cdef double loss
    if is_f32(output):
        with nogil:
            loss = fm_mse_f32(<float *>pg, <const float *>po, <const float *>pt, size, n_threads)
    else:
        with nogil:
            loss = fm_mse_f64(<double *>pg, <const double *>po, <const double *>pt, size, n_threads)
    return loss, grad


def bce_with_logits(grad, cnp.ndarray logits not None, cnp.ndarray target not None, int n_threads):
    cdef fm_int size = cnp.PyArray_SIZE(logits)
    cdef void *pg = ptr_or_null(grad)
    cdef void *po = ptr(logits)
    cdef void *pt = ptr(target)
    cdef double loss
    if is_f32(logits):
        with nogil:
            loss = fm_bce_with_logits_f32(<float *>pg, <const float *>po, <const float *>pt, size, n_threads)
    else:
        with nogil:
            loss = fm_bce_with_logits_f64(<double *>pg, <const double *>po, <const double *>pt, size,
                                          n_threads)
    return loss, grad


def penalty(cnp.ndarray grad not None, cnp.ndarray w not None, double l1, double l2, int n_threads):
    cdef fm_int size = cnp.PyArray_SIZE(w)
    cdef void *pg = ptr(grad)
    cdef void *pw = ptr(w)
    cdef double value
    if is_f32(w):
        with nogil:
            value = fm_penalty_f32(<float *>pg, <const float *>pw, size, l1, l2, n_threads)
    else:
        with nogil:
            value = fm_penalty_f64(<double *>pg, <const double *>pw, size, l1, l2, n_threads)
    return value
