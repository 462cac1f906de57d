# Inference chains (csrc/infer.c): a whole stack of eval-mode layers in one call.
from libc.stdlib cimport calloc, free

cdef extern from "fastmlp.h" nogil:
    ctypedef struct fm_infer_step:
        int kind
        fm_int d_in, d_out
        const void *W
        const void *b
        const void *gamma
        const void *beta
        const void *mean
        const void *var
        fm_act act
        double param
    int fm_infer_forward_f32(float *y, const float *x, fm_int n, const fm_infer_step *steps,
                             int n_steps, int n_threads)
    int fm_infer_forward_f64(double *y, const double *x, fm_int n, const fm_infer_step *steps,
                             int n_steps, int n_threads)

INFER_STEPS = {"dense": 0, "act": 1, "softmax": 2, "batchnorm": 3}


cdef const void *_opt_ptr(object a):
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


cdef class InferChain:
    """Steps of an inference chain holding the layers' arrays (kept alive here).
    specs: (kind, d_in, d_out, arrays dict, act name, param) per step, arrays of
    the chain's dtype, checked by the caller (fastmlp._infer)."""
    cdef fm_infer_step *steps
    cdef int n_steps
    cdef bint is_f64
    cdef object arrays

    def __cinit__(self, list specs, bint is_f64):
        self.n_steps = len(specs)
        self.is_f64 = is_f64
        self.steps = <fm_infer_step *>calloc(max(1, self.n_steps), sizeof(fm_infer_step))
        if self.steps == NULL:
            raise MemoryError()
        self.arrays = []
        cdef int i
        for i, (kind, d_in, d_out, arrays, act, param) in enumerate(specs):
            self.arrays.append(arrays)
            self.steps[i].kind = INFER_STEPS[kind]
            self.steps[i].d_in = d_in
            self.steps[i].d_out = d_out
            self.steps[i].W = _opt_ptr(arrays.get("W"))
            self.steps[i].b = _opt_ptr(arrays.get("b"))
            self.steps[i].gamma = _opt_ptr(arrays.get("gamma"))
            self.steps[i].beta = _opt_ptr(arrays.get("beta"))
            self.steps[i].mean = _opt_ptr(arrays.get("mean"))
            self.steps[i].var = _opt_ptr(arrays.get("var"))
            self.steps[i].act = <fm_act>ACT_CODES[act]
            self.steps[i].param = param

    def __dealloc__(self):
        free(self.steps)

    def run(self, cnp.ndarray y not None, cnp.ndarray x not None, int n_threads):
        """y = chain(x); returns the C status (0, -1 no memory, -2 non-finite x)."""
        cdef fm_int n = x.shape[0]
        cdef void *py = cnp.PyArray_DATA(y)
        cdef const void *px = cnp.PyArray_DATA(x)
        cdef int rc
        if self.is_f64:
            with nogil:
                rc = fm_infer_forward_f64(<double *>py, <const double *>px, n, self.steps,
                                          self.n_steps, n_threads)
        else:
            with nogil:
                rc = fm_infer_forward_f32(<float *>py, <const float *>px, n, self.steps,
                                          self.n_steps, n_threads)
        return rc
