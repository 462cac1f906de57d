# Optimizers and gradient clipping (csrc/optim.c), included by _kernels.pyx.
#
# The C functions take lists of arrays as pointer arrays. OptimPlan keeps those
# pointer arrays for one optimizer's (params, grads, state) layout, so a step
# costs one call: the plan re-checks the arrays it is given at C speed (same
# param objects and buffers; grads of the expected dtype, shape and layout that
# overlap no param) and either runs the update or returns False having touched
# nothing, in which case fastmlp.optim validates in Python and says what is
# wrong. n_threads <= 0 means OpenMP's default (saves a Python call per step).
# The module-level functions build a throwaway plan.
from cpython.mem cimport PyMem_Malloc, PyMem_Free

cdef extern from "fastmlp.h" nogil:
    void fm_sgd_update_f32(float **params, float **momentum_buffers, const float **grads,
                           const fm_int *sizes, fm_int n_arrays, double lr, double momentum,
                           double dampening, double weight_decay, int nesterov, int first,
                           int n_threads)
    void fm_sgd_update_f64(double **params, double **momentum_buffers, const double **grads,
                           const fm_int *sizes, fm_int n_arrays, double lr, double momentum,
                           double dampening, double weight_decay, int nesterov, int first,
                           int n_threads)
    void fm_adagrad_update_f32(float **params, float **state_sums, const float **grads,
                               const fm_int *sizes, fm_int n_arrays, double clr, double eps,
                               double weight_decay, int n_threads)
    void fm_adagrad_update_f64(double **params, double **state_sums, const double **grads,
                               const fm_int *sizes, fm_int n_arrays, double clr, double eps,
                               double weight_decay, int n_threads)
    void fm_rmsprop_update_f32(float **params, float **square_avgs, float **momentum_buffers,
                               float **grad_avgs, const float **grads, const fm_int *sizes,
                               fm_int n_arrays, double lr, double alpha, double eps,
                               double momentum, double weight_decay, int centered, int n_threads)
    void fm_rmsprop_update_f64(double **params, double **square_avgs, double **momentum_buffers,
                               double **grad_avgs, const double **grads, const fm_int *sizes,
                               fm_int n_arrays, double lr, double alpha, double eps,
                               double momentum, double weight_decay, int centered, int n_threads)
    void fm_adam_update_f32(float **params, float **exp_avgs, float **exp_avg_sqs,
                            const float **grads, const fm_int *sizes, fm_int n_arrays,
                            double lr, double beta1, double beta2, double eps,
                            double weight_decay, int decoupled, fm_int step, int n_threads)
    void fm_adam_update_f64(double **params, double **exp_avgs, double **exp_avg_sqs,
                            const double **grads, const fm_int *sizes, fm_int n_arrays,
                            double lr, double beta1, double beta2, double eps,
                            double weight_decay, int decoupled, fm_int step, int n_threads)
    int fm_grad_norm_f32(double *norm, const float **grads, const fm_int *sizes,
                         fm_int n_arrays, int n_threads)
    int fm_grad_norm_f64(double *norm, const double **grads, const fm_int *sizes,
                         fm_int n_arrays, int n_threads)
    void fm_grad_scale_f32(float **grads, const fm_int *sizes, fm_int n_arrays, double scale,
                           int n_threads)
    void fm_grad_scale_f64(double **grads, const fm_int *sizes, fm_int n_arrays, double scale,
                           int n_threads)
    void fm_grad_clamp_f32(float **grads, const fm_int *sizes, fm_int n_arrays, double lo,
                           double hi, int n_threads)
    void fm_grad_clamp_f64(double **grads, const fm_int *sizes, fm_int n_arrays, double lo,
                           double hi, int n_threads)


cdef enum:
    _PARAM_FLAGS = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_WRITEABLE
    _GRAD_FLAGS = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED


cdef class OptimPlan:
    """Pointer arrays for a list of params, their grads and up to 3 state slots.

    ``states`` is a list of 3 entries, each None or a list of arrays aligned with
    ``params`` (same dtype and size). Arrays are grouped by dtype: the float32
    ones first, then the float64 ones, each group one C call.
    """
    cdef readonly Py_ssize_t n
    cdef list params, grads, states
    cdef Py_ssize_t n32
    cdef Py_ssize_t *order          # group order -> position
    cdef fm_int *sizes              # group order
    cdef void **ptr                 # 5 rows of n: params, grads, state0, state1, state2
    cdef void **pdata               # per position: the param's data when the plan was made
    cdef int *type_num              # per position
    cdef int *ndim                  # per position
    cdef cnp.npy_intp *dims         # per position, 32 slots each
    cdef bint has_state[3]

    def __cinit__(self, list params not None, list grads not None, list states not None):
        cdef Py_ssize_t n = len(params), i, k, j, d
        cdef cnp.ndarray p
        self.n = n
        self.params = list(params)
        self.grads = list(grads)
        self.states = [None if s is None else list(s) for s in states]
        while len(self.states) < 3:
            self.states.append(None)
        self.order = <Py_ssize_t *>PyMem_Malloc(max(n, 1) * sizeof(Py_ssize_t))
        self.sizes = <fm_int *>PyMem_Malloc(max(n, 1) * sizeof(fm_int))
        self.ptr = <void **>PyMem_Malloc(max(5 * n, 1) * sizeof(void *))
        self.pdata = <void **>PyMem_Malloc(max(n, 1) * sizeof(void *))
        self.type_num = <int *>PyMem_Malloc(max(n, 1) * sizeof(int))
        self.ndim = <int *>PyMem_Malloc(max(n, 1) * sizeof(int))
        self.dims = <cnp.npy_intp *>PyMem_Malloc(max(32 * n, 1) * sizeof(cnp.npy_intp))
        if (not self.order or not self.sizes or not self.ptr or not self.pdata
                or not self.type_num or not self.ndim or not self.dims):
            raise MemoryError()
        for k in range(3):
            self.has_state[k] = self.states[k] is not None
        # group order: float32 positions, then float64
        j = 0
        for d in range(2):
            for i in range(n):
                p = self.params[i]
                if (cnp.PyArray_TYPE(p) == cnp.NPY_FLOAT32) == (d == 0):
                    self.order[j] = i
                    if d == 0:
                        self.n32 = j + 1
                    j += 1
        for j in range(n):
            i = self.order[j]
            p = self.params[i]
            self.sizes[j] = cnp.PyArray_SIZE(p)
            self.pdata[i] = cnp.PyArray_DATA(p)
            self.type_num[i] = cnp.PyArray_TYPE(p)
            self.ndim[i] = cnp.PyArray_NDIM(p)
            if self.ndim[i] > 32:
                raise ValueError("arrays of more than 32 dimensions are not supported")
            for d in range(self.ndim[i]):
                self.dims[32 * i + d] = cnp.PyArray_DIMS(p)[d]
            self.ptr[j] = self.pdata[i]
            self.ptr[n + j] = cnp.PyArray_DATA(<cnp.ndarray>self.grads[i])
            for k in range(3):
                self.ptr[(2 + k) * n + j] = (
                    cnp.PyArray_DATA(<cnp.ndarray>self.states[k][i]) if self.has_state[k] else NULL)

    def __dealloc__(self):
        PyMem_Free(self.order)
        PyMem_Free(self.sizes)
        PyMem_Free(self.ptr)
        PyMem_Free(self.pdata)
        PyMem_Free(self.type_num)
        PyMem_Free(self.ndim)
        PyMem_Free(self.dims)

    cdef bint _same_shape(self, cnp.ndarray a, Py_ssize_t i):
        cdef int d
        if cnp.PyArray_TYPE(a) != self.type_num[i] or cnp.PyArray_NDIM(a) != self.ndim[i]:
            return False
        for d in range(self.ndim[i]):
            if cnp.PyArray_DIMS(a)[d] != self.dims[32 * i + d]:
                return False
        return True

    cdef bint _refresh(self, list params, list grads):
        """Re-point the plan at these lists; False (nothing changed) if they do not fit."""
        cdef Py_ssize_t n = self.n, i, j, k
        cdef object obj
        cdef cnp.ndarray g, q
        cdef char *g0
        cdef char *g1
        cdef char *q0
        cdef bint same = True
        if len(params) != n or len(grads) != n:
            return False
        # params: the very arrays (and buffers) the plan was made for
        for i in range(n):
            obj = params[i]
            if obj is not self.params[i]:
                return False
            q = <cnp.ndarray>obj
            if (cnp.PyArray_DATA(q) != self.pdata[i]
                    or (cnp.PyArray_FLAGS(q) & _PARAM_FLAGS) != _PARAM_FLAGS
                    or not self._same_shape(q, i)):
                return False
        # grads: dtype, shape and layout every time; overlaps when they are new
        for j in range(n):
            i = self.order[j]
            obj = grads[i]
            if not cnp.PyArray_Check(obj):
                return False
            g = <cnp.ndarray>obj
            if (cnp.PyArray_FLAGS(g) & _GRAD_FLAGS) != _GRAD_FLAGS or not self._same_shape(g, i):
                return False
            if obj is not self.grads[i] or cnp.PyArray_DATA(g) != self.ptr[n + j]:
                same = False
        if same:
            return True
        for i in range(n):
            # an element-wise update may read grad[i] and write the same param
            # element, but no grad may overlap any other param memory
            g = <cnp.ndarray>grads[i]
            g0 = <char *>cnp.PyArray_DATA(g)
            g1 = g0 + cnp.PyArray_NBYTES(g)
            for k in range(n):
                q = <cnp.ndarray>self.params[k]
                q0 = <char *>cnp.PyArray_DATA(q)
                if g1 > q0 and q0 + cnp.PyArray_NBYTES(q) > g0 and not (k == i and q0 == g0):
                    return False
        for j in range(n):
            self.ptr[n + j] = cnp.PyArray_DATA(<cnp.ndarray>grads[self.order[j]])
        self.grads = list(grads)
        return True

    def sgd(self, list params, list grads, double lr, double momentum, double dampening,
            double weight_decay, bint nesterov, bint first, int n_threads):
        """One SGD step (reference.sgd_update); False if the arrays do not fit the plan."""
        if momentum != 0 and not self.has_state[0]:
            return False
        if not self._refresh(params, grads):
            return False
        if n_threads <= 0:
            n_threads = fm_omp_max_threads()
        cdef Py_ssize_t n = self.n, m = self.n - self.n32
        cdef void **P = self.ptr
        cdef void **S = P + 2 * n if self.has_state[0] else NULL
        with nogil:
            if self.n32:
                fm_sgd_update_f32(<float **>P, <float **>S, <const float **>(P + n),
                                  self.sizes, self.n32, lr, momentum, dampening, weight_decay,
                                  nesterov, first, n_threads)
            if m:
                fm_sgd_update_f64(<double **>(P + self.n32), <double **>(S + self.n32 if S else NULL),
                                  <const double **>(P + n + self.n32), self.sizes + self.n32, m,
                                  lr, momentum, dampening, weight_decay, nesterov, first, n_threads)
        return True

    def adagrad(self, list params, list grads, double clr, double eps, double weight_decay,
                int n_threads):
        """One Adagrad step (reference.adagrad_update); False if the arrays do not fit."""
        if not self.has_state[0]:
            return False
        if not self._refresh(params, grads):
            return False
        if n_threads <= 0:
            n_threads = fm_omp_max_threads()
        cdef Py_ssize_t n = self.n, m = self.n - self.n32, o = self.n32
        cdef void **P = self.ptr
        with nogil:
            if o:
                fm_adagrad_update_f32(<float **>P, <float **>(P + 2 * n), <const float **>(P + n),
                                      self.sizes, o, clr, eps, weight_decay, n_threads)
            if m:
                fm_adagrad_update_f64(<double **>(P + o), <double **>(P + 2 * n + o),
                                      <const double **>(P + n + o), self.sizes + o, m, clr, eps,
                                      weight_decay, n_threads)
        return True

    def rmsprop(self, list params, list grads, double lr, double alpha, double eps,
                double momentum, double weight_decay, bint centered, int n_threads):
        """One RMSprop step (reference.rmsprop_update); False if the arrays do not fit."""
        if (not self.has_state[0] or (momentum > 0 and not self.has_state[1])
                or (centered and not self.has_state[2])):
            return False
        if not self._refresh(params, grads):
            return False
        if n_threads <= 0:
            n_threads = fm_omp_max_threads()
        cdef Py_ssize_t n = self.n, m = self.n - self.n32, o = self.n32
        cdef void **P = self.ptr
        cdef void **B = P + 3 * n if self.has_state[1] else NULL
        cdef void **A = P + 4 * n if self.has_state[2] else NULL
        with nogil:
            if o:
                fm_rmsprop_update_f32(<float **>P, <float **>(P + 2 * n), <float **>B, <float **>A,
                                      <const float **>(P + n), self.sizes, o, lr, alpha, eps,
                                      momentum, weight_decay, centered, n_threads)
            if m:
                fm_rmsprop_update_f64(<double **>(P + o), <double **>(P + 2 * n + o),
                                      <double **>(B + o if B else NULL),
                                      <double **>(A + o if A else NULL),
                                      <const double **>(P + n + o), self.sizes + o, m, lr, alpha,
                                      eps, momentum, weight_decay, centered, n_threads)
        return True

    def adam(self, list params, list grads, double lr, double beta1, double beta2, double eps,
             double weight_decay, bint decoupled, fm_int step, int n_threads):
        """One Adam/AdamW step (reference.adam_update); False if the arrays do not fit."""
        if not (self.has_state[0] and self.has_state[1]) or step < 1:
            return False
        if not self._refresh(params, grads):
            return False
        if n_threads <= 0:
            n_threads = fm_omp_max_threads()
        cdef Py_ssize_t n = self.n, m = self.n - self.n32, o = self.n32
        cdef void **P = self.ptr
        with nogil:
            if o:
                fm_adam_update_f32(<float **>P, <float **>(P + 2 * n), <float **>(P + 3 * n),
                                   <const float **>(P + n), self.sizes, o, lr, beta1, beta2, eps,
                                   weight_decay, decoupled, step, n_threads)
            if m:
                fm_adam_update_f64(<double **>(P + o), <double **>(P + 2 * n + o),
                                   <double **>(P + 3 * n + o), <const double **>(P + n + o),
                                   self.sizes + o, m, lr, beta1, beta2, eps, weight_decay,
                                   decoupled, step, n_threads)
        return True


def _plan(params, grads, *states):
    return OptimPlan(list(params), list(grads), list(states))


cdef _ran(bint ok):
    if not ok:
        raise ValueError("the arrays do not fit the update (state lists missing, or params, "
                         "grads or states of other dtypes, shapes or layouts)")


def sgd_update(params, momentum_buffers, grads, double lr, double momentum, double dampening,
               double weight_decay, bint nesterov, bint first, int n_threads):
    """params (and momentum_buffers, unless None) updated in place by SGD."""
    _ran(_plan(params, grads, momentum_buffers).sgd(params, grads, lr, momentum, dampening,
                                                    weight_decay, nesterov, first, n_threads))
    return params


def adagrad_update(params, state_sums, grads, double clr, double eps, double weight_decay,
                   int n_threads):
    _ran(_plan(params, grads, state_sums).adagrad(params, grads, clr, eps, weight_decay, n_threads))
    return params


def rmsprop_update(params, square_avgs, momentum_buffers, grad_avgs, grads, double lr,
                   double alpha, double eps, double momentum, double weight_decay, bint centered,
                   int n_threads):
    _ran(_plan(params, grads, square_avgs, momentum_buffers, grad_avgs).rmsprop(
        params, grads, lr, alpha, eps, momentum, weight_decay, centered, n_threads))
    return params


def adam_update(params, exp_avgs, exp_avg_sqs, grads, double lr, double beta1, double beta2,
                double eps, double weight_decay, bint decoupled, fm_int step, int n_threads):
    _ran(_plan(params, grads, exp_avgs, exp_avg_sqs).adam(
        params, grads, lr, beta1, beta2, eps, weight_decay, decoupled, step, n_threads))
    return params


cdef class _Group:
    """A list of arrays as pointer arrays, split by dtype (float32 first)."""
    cdef Py_ssize_t n, n32
    cdef void **ptr
    cdef fm_int *sizes

    def __cinit__(self, list arrays):
        cdef Py_ssize_t n = len(arrays), i, j = 0, d
        cdef cnp.ndarray a
        self.n = n
        self.ptr = <void **>PyMem_Malloc(max(n, 1) * sizeof(void *))
        self.sizes = <fm_int *>PyMem_Malloc(max(n, 1) * sizeof(fm_int))
        if not self.ptr or not self.sizes:
            raise MemoryError()
        for d in range(2):
            for i in range(n):
                a = arrays[i]
                if (cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32) == (d == 0):
                    self.ptr[j] = cnp.PyArray_DATA(a)
                    self.sizes[j] = cnp.PyArray_SIZE(a)
                    j += 1
            if d == 0:
                self.n32 = j

    def __dealloc__(self):
        PyMem_Free(self.ptr)
        PyMem_Free(self.sizes)


def grad_norm(grads, int n_threads):
    """The global L2 norm of a list of arrays (see fm_grad_norm_f32)."""
    cdef _Group g = _Group(list(grads))
    cdef double n32 = 0.0, n64 = 0.0
    cdef int rc = 0
    cdef Py_ssize_t o = g.n32
    with nogil:
        if o:
            rc = fm_grad_norm_f32(&n32, <const float **>g.ptr, g.sizes, o, n_threads)
        if rc == 0 and g.n - o:
            rc = fm_grad_norm_f64(&n64, <const double **>(g.ptr + o), g.sizes + o, g.n - o,
                                  n_threads)
    if rc != 0:
        raise MemoryError("fastmlp: cannot allocate the gradient norm's partial sums")
    if not o:
        return n64
    if g.n == o:
        return n32
    return _combine_norms(n32, n64)


cdef double _combine_norms(double a, double b):
    import math
    if a != a or b != b:
        return math.nan
    return math.hypot(a, b)


def grad_scale(grads, double scale, int n_threads):
    """grads *= scale, in place."""
    cdef _Group g = _Group(list(grads))
    cdef Py_ssize_t o = g.n32
    with nogil:
        if o:
            fm_grad_scale_f32(<float **>g.ptr, g.sizes, o, scale, n_threads)
        if g.n - o:
            fm_grad_scale_f64(<double **>(g.ptr + o), g.sizes + o, g.n - o, scale, n_threads)
    return grads


def grad_clamp(grads, double lo, double hi, int n_threads):
    """grads = clamp(grads, lo, hi), in place, NaN kept."""
    cdef _Group g = _Group(list(grads))
    cdef Py_ssize_t o = g.n32
    with nogil:
        if o:
            fm_grad_clamp_f32(<float **>g.ptr, g.sizes, o, lo, hi, n_threads)
        if g.n - o:
            fm_grad_clamp_f64(<double **>(g.ptr + o), g.sizes + o, g.n - o, lo, hi, n_threads)
    return grads
