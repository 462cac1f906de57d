# Input checks (csrc/checks.c): whole-array scans without a data-sized temporary.

cdef extern from "fastmlp.h" nogil:
    int fm_all_finite_f32(const float *x, fm_int n, int n_threads)
    int fm_all_finite_f64(const double *x, fm_int n, int n_threads)


def all_finite(cnp.ndarray x not None, int n_threads):
    """True when every element of x (C-contiguous float32/float64, checked by the
    caller) is finite."""
    cdef fm_int size = cnp.PyArray_SIZE(x)
    cdef const void *px = cnp.PyArray_DATA(x)
    cdef int ok
    if is_f32(x):
        with nogil:
            ok = fm_all_finite_f32(<const float *>px, size, n_threads)
    else:
        with nogil:
            ok = fm_all_finite_f64(<const double *>px, size, n_threads)
    return ok != 0
