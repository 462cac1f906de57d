# GEMM extras: the driver switch (tests and benchmarks force the packed or the
# unpacked path) and the fused bias+activation epilogue as a plain call.

cdef extern from "gemm.h" nogil:
    void fm_gemm_set_path(int path)
    int fm_gemm_get_path()
    int fm_cpu_splits_512bit_fma()
    void fm_gemm_set_full_avx512(int on)
    int fm_gemm_mixes_tiles()

GEMM_PATHS = ("auto", "packed", "unpacked")


def gemm_set_path(str name):
    """Force a GEMM driver ("packed", "unpacked") or let shapes choose ("auto")."""
    fm_gemm_set_path(GEMM_PATHS.index(name))


def gemm_get_path():
    return GEMM_PATHS[fm_gemm_get_path()]


def cpu_splits_512bit_fma():
    """Whether this CPU runs 512-bit FMAs as two halves (Zen 4): its AVX-512 path's
    GEMM then mixes AVX2 and AVX-512 tiles (csrc/gemm.h)."""
    return bool(fm_cpu_splits_512bit_fma())


def gemm_set_full_avx512(bint on):
    """Make the AVX-512 path's GEMM use its own kernels throughout, also where it
    would mix tiles (tests and benchmarks cover both)."""
    fm_gemm_set_full_avx512(on)


def gemm_mixes_tiles():
    return bool(fm_gemm_mixes_tiles())


def gemm_epilogue(cnp.ndarray c not None, cnp.ndarray a not None, cnp.ndarray b not None,
                  double alpha, double beta, bint trans_a, bint trans_b, cnp.ndarray bias,
                  int act, double act_param, int n_threads):
    """c = act(alpha * op(a) @ op(b) + beta * c + bias) through the GEMM epilogue;
    bias (n,) of c's dtype or None, act an fm_act code."""
    cdef fm_epilogue ep
    ep.bias = cnp.PyArray_DATA(bias) if bias is not None else NULL
    ep.act = <fm_act>act
    ep.act_param = act_param
    gemm_call(c, a, b, alpha, beta, trans_a, trans_b, &ep, n_threads)
    return c
