# Inference chains (csrc/infer.c): a whole stack of eval-mode layers in one call.
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
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
    cdef fm_int d_in, d_out

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
        if self.n_steps:
            self.d_in = self.steps[0].d_in
            self.d_out = self.steps[self.n_steps - 1].d_out

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

    def predict(self, x, int n_threads, lock, tuple checks):
        """The fast path of fastmlp._infer, in one call: when every (owner, attr, key,
        array) of checks still holds (getattr(owner, attr).get(key) is array: the
        arrays this chain points at were not replaced) and x is an ndarray of the
        chain's dtype, 2-D (n >= 1, d_in), C-contiguous, aligned and in native byte
        order, returns a new (n, d_out) array y = chain(x), computed holding `lock`;
        the C status (an int: -1 no memory, -2 non-finite x) when the chain fails;
        None otherwise (the caller re-checks its plan and x, then calls run)."""
        if not _same_arrays(checks) or type(x) is not cnp.ndarray or self.n_steps == 0:
            return None
        cdef cnp.ndarray a = <cnp.ndarray>x
        cdef int type_num = cnp.NPY_FLOAT64 if self.is_f64 else cnp.NPY_FLOAT32
        if (cnp.PyArray_TYPE(a) != type_num or cnp.PyArray_NDIM(a) != 2
                or cnp.PyArray_DIM(a, 1) != self.d_in or cnp.PyArray_DIM(a, 0) <= 0
                or not cnp.PyArray_CHKFLAGS(a, cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED)
                or not cnp.PyArray_ISNOTSWAPPED(a)):
            return None
        cdef fm_int n = cnp.PyArray_DIM(a, 0)
        cdef cnp.npy_intp dims[2]
        dims[0] = n
        dims[1] = self.d_out
        cdef cnp.ndarray y = cnp.PyArray_EMPTY(2, dims, type_num, 0)
        cdef void *py = cnp.PyArray_DATA(y)
        cdef const void *px = cnp.PyArray_DATA(a)
        cdef int rc
        lock.acquire()
        try:
            if self.is_f64:
                with nogil:
                    rc = fm_infer_forward_f64(<double *>py, <const double *>px, n, self.steps,
                                              self.n_steps, n_threads)
            else:
                with nogil:
                    rc = fm_infer_forward_f32(<float *>py, <const float *>px, n, self.steps,
                                              self.n_steps, n_threads)
        finally:
            lock.release()
        return y if rc == 0 else rc


cdef bint _same_arrays(tuple checks) except -1:
    cdef tuple c
    cdef object d
    cdef PyObject *v
    for c in checks:
        d = getattr(c[0], c[1])
        if type(d) is dict:
            v = PyDict_GetItem(d, c[2])  # borrowed; NULL when the key is missing
            if v != <PyObject *>c[3] and not (v == NULL and c[3] is None):
                return False
        elif d.get(c[2]) is not c[3]:
            return False
    return True


def same_arrays(tuple checks):
    """True when getattr(owner, attr).get(key) is array for every (owner, attr,
    key, array) in checks: no array an inference chain points at was replaced."""
    return _same_arrays(checks)
