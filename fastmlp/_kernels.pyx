# Thin wrappers over csrc/: the only place Python meets C.
#
# Every wrapper takes ndarrays that fastmlp.ops has already checked (dtype,
# C-contiguous, aligned, shapes), reads their data pointers (cheaper than typed
# memoryviews, ~25 ns vs ~180 ns an argument), picks the _f32 or _f64 symbol
# and calls it with the GIL released. Wrappers allocate nothing and decide
# nothing; the kernel families add theirs through the .pxi files included below.
cimport numpy as cnp
from libc.stdint cimport int64_t

cnp.import_array()

cdef extern from "fastmlp.h" nogil:
    ctypedef int64_t fm_int
    ctypedef enum fm_isa:
        FM_ISA_GENERIC
        FM_ISA_AVX2
        FM_ISA_AVX512
    fm_isa fm_isa_best_supported()
    fm_isa fm_isa_active()
    int fm_isa_set(fm_isa isa)
    const char *fm_isa_name(fm_isa isa)
    int fm_openmp_enabled()
    int fm_omp_max_threads()
    void fm_set_parallel_min_ns(double ns)
    void fm_set_late_thread_guard(double start_ns, double share, int streak)
    long long fm_late_thread_backoffs()

    ctypedef enum fm_act:
        FM_ACT_NONE
        FM_ACT_RELU
        FM_ACT_SIGMOID
        FM_ACT_TANH
        FM_ACT_LEAKY_RELU
        FM_ACT_ELU
    ctypedef struct fm_epilogue:
        const void *bias
        fm_act act
        double act_param

    int fm_sgemm_ex(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, float alpha,
                    const float *A, fm_int lda, const float *B, fm_int ldb, float beta,
                    float *C, fm_int ldc, const fm_epilogue *ep, int n_threads)
    int fm_dgemm_ex(int trans_a, int trans_b, fm_int m, fm_int n, fm_int k, double alpha,
                    const double *A, fm_int lda, const double *B, fm_int ldb, double beta,
                    double *C, fm_int ldc, const fm_epilogue *ep, int n_threads)

    ctypedef struct fm_gemm_info:
        const char *name
        int mr, nr, mc, kc, nc
    fm_gemm_info fm_gemm_query(int is_double)


cdef inline bint is_f32(cnp.ndarray a):
    return cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32


# ------------------------------------------------------------------- runtime

ISA_NAMES = ("generic", "avx2", "avx512")


def isa_best():
    return ISA_NAMES[<int>fm_isa_best_supported()]


def isa_active():
    return ISA_NAMES[<int>fm_isa_active()]


def isa_set(str name):
    """Force an ISA path; returns False when this CPU cannot run it."""
    cdef int level = ISA_NAMES.index(name)
    return fm_isa_set(<fm_isa>level) == 0


def openmp_enabled():
    return bool(fm_openmp_enabled())


def omp_max_threads():
    return fm_omp_max_threads()


def set_parallel_min_ns(double ns):
    """Work below which kernels stay on one thread (tests lower it to 0)."""
    fm_set_parallel_min_ns(ns)


def set_late_thread_guard(double start_ns, double share, int streak):
    """The late-thread guard's thresholds (tests move them, which also ends a back-off)."""
    fm_set_late_thread_guard(start_ns, share, streak)


def late_thread_backoffs():
    """How many times a late team thread has made kernels keep to one thread."""
    return fm_late_thread_backoffs()


def gemm_info(bint is_double):
    cdef fm_gemm_info info = fm_gemm_query(is_double)
    return {"kernel": info.name.decode(), "mr": info.mr, "nr": info.nr,
            "mc": info.mc, "kc": info.kc, "nc": info.nc}


# ---------------------------------------------------------------------- GEMM

cdef int gemm_call(cnp.ndarray c, cnp.ndarray a, cnp.ndarray b, double alpha,
                   double beta, bint trans_a, bint trans_b, const fm_epilogue *ep,
                   int n_threads) except -1:
    cdef fm_int m = c.shape[0], n = c.shape[1]
    cdef fm_int k = a.shape[0] if trans_a else a.shape[1]
    cdef fm_int lda = a.shape[1], ldb = b.shape[1]
    cdef int rc
    if is_f32(c):
        with nogil:
            rc = fm_sgemm_ex(trans_a, trans_b, m, n, k, <float>alpha,
                             <const float *>cnp.PyArray_DATA(a), lda,
                             <const float *>cnp.PyArray_DATA(b), ldb, <float>beta,
                             <float *>cnp.PyArray_DATA(c), n, ep, n_threads)
    else:
        with nogil:
            rc = fm_dgemm_ex(trans_a, trans_b, m, n, k, alpha,
                             <const double *>cnp.PyArray_DATA(a), lda,
                             <const double *>cnp.PyArray_DATA(b), ldb, beta,
                             <double *>cnp.PyArray_DATA(c), n, ep, n_threads)
    if rc != 0:
        raise MemoryError("fastmlp: cannot allocate the GEMM packing workspace")
    return 0


def gemm(cnp.ndarray c not None, cnp.ndarray a not None, cnp.ndarray b not None,
         double alpha, double beta, bint trans_a, bint trans_b, int n_threads):
    """c = alpha * op(a) @ op(b) + beta * c (c not read when beta == 0)."""
    gemm_call(c, a, b, alpha, beta, trans_a, trans_b, NULL, n_threads)
    return c


cdef inline bint _plain_matrix(object x, int type_num):
    """x an ndarray (not a subclass) of type_num, 2-D, C-contiguous, aligned, native order."""
    if type(x) is not cnp.ndarray:
        return False
    cdef cnp.ndarray a = <cnp.ndarray>x
    return (cnp.PyArray_TYPE(a) == type_num and cnp.PyArray_NDIM(a) == 2
            and cnp.PyArray_CHKFLAGS(a, cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED)
            and cnp.PyArray_ISNOTSWAPPED(a))


cdef inline bint _overlap(cnp.ndarray x, cnp.ndarray y):
    """Whether the bytes of two C-contiguous arrays overlap."""
    cdef char *px = <char *>cnp.PyArray_DATA(x)
    cdef char *py = <char *>cnp.PyArray_DATA(y)
    return px < py + cnp.PyArray_NBYTES(y) and py < px + cnp.PyArray_NBYTES(x)


def gemm_fast(a, b, out, alpha, beta, trans_a, trans_b, int n_threads):
    """fastmlp.ops.gemm's common case in one call, for small products where the
    Python checks would cost more than the arithmetic: a, b (and out, unless None)
    plain float32/float64 ndarrays of one dtype, 2-D, C-contiguous, aligned, in
    native byte order, shapes that agree, out writeable and sharing no memory
    with a or b, alpha and beta floats or ints, trans_* bools. Returns out (a new
    array when None), or None when anything is outside that case: ops.gemm then
    checks the call in full and says what is wrong, or copies what it must."""
    if (type(alpha) is not float and type(alpha) is not int) or \
            (type(beta) is not float and type(beta) is not int) or \
            type(trans_a) is not bool or type(trans_b) is not bool or type(a) is not cnp.ndarray:
        return None
    cdef int type_num = cnp.PyArray_TYPE(<cnp.ndarray>a)
    if (type_num != cnp.NPY_FLOAT32 and type_num != cnp.NPY_FLOAT64) or \
            not _plain_matrix(a, type_num) or not _plain_matrix(b, type_num):
        return None
    cdef cnp.ndarray pa = <cnp.ndarray>a, pb = <cnp.ndarray>b, c
    cdef bint ta = trans_a, tb = trans_b
    cdef fm_int m = cnp.PyArray_DIM(pa, 1 if ta else 0), k = cnp.PyArray_DIM(pa, 0 if ta else 1)
    cdef fm_int n = cnp.PyArray_DIM(pb, 0 if tb else 1)
    if cnp.PyArray_DIM(pb, 1 if tb else 0) != k:
        return None
    cdef cnp.npy_intp dims[2]
    if out is None:
        dims[0] = m
        dims[1] = n
        c = cnp.PyArray_EMPTY(2, dims, type_num, 0)
        beta = 0.0
    else:
        if not _plain_matrix(out, type_num):
            return None
        c = <cnp.ndarray>out
        if (cnp.PyArray_DIM(c, 0) != m or cnp.PyArray_DIM(c, 1) != n
                or not cnp.PyArray_ISWRITEABLE(c) or _overlap(c, pa) or _overlap(c, pb)):
            return None
    gemm_call(c, pa, pb, alpha, beta, ta, tb, NULL, n_threads)
    return c


# ------------------------------------------------------------ kernel families
include "_kernels_dense.pxi"
include "_kernels_bn.pxi"
include "_kernels_optim.pxi"
include "_kernels_plan.pxi"
include "_kernels_gemm.pxi"
include "_kernels_infer.pxi"
include "_kernels_checks.pxi"
