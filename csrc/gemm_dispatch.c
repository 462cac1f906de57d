/* gemm_dispatch.c: which micro-kernel, packing and blocking each ISA path uses.
 * Blocking: the A block (MC x KC) stays in L2 while B micro-panels (KC x NR)
 * stream through L1, and the packed B panel (KC x NC) sits in L3. The AVX-512
 * figures were chosen by alternating runs of benchmarks/bench_gemm.py shapes on
 * a Zen 5 core (48 KiB L1d, 2 MiB L2): MC 168..672 x KC 256..512 were within
 * noise of each other; 336 x 512 was ahead on most shapes.
 * The portable unpacked kernel is there for tests only: plain loops with
 * runtime strides are slower than packing, so shapes never choose it. */
#include "gemm.h"

static const fm_sgemm_kernel sgemm_generic = {"generic 4x8", 4, 8, 128, 256, 2048,
                                              fm_sgemm_ukr_ref_4x8,
                                              fm_sgemm_pack_a_ref, fm_sgemm_pack_b_ref,
                                              4, 8, fm_sgemm_sup_ref_4x8, 0, 0, NULL};
static const fm_dgemm_kernel dgemm_generic = {"generic 4x4", 4, 4, 128, 256, 2048,
                                              fm_dgemm_ukr_ref_4x4,
                                              fm_dgemm_pack_a_ref, fm_dgemm_pack_b_ref,
                                              4, 4, fm_dgemm_sup_ref_4x4, 0, 0, NULL};
#if FM_X86_SIMD
/* AVX2's packed tile and blocking, and its one-row kernel: also the mixed
 * tables' below, whose k slices (kc) must be AVX2's for the same bits */
#define SGEMM_AVX2_PACKED 6, 16, 144, 256, 4080, fm_sgemm_ukr_avx2_6x16, \
                          fm_sgemm_pack_a_avx2, fm_sgemm_pack_b_avx2
#define SGEMM_AVX2_GEMV 104, fm_sgemm_gemv_avx2
#define DGEMM_AVX2_PACKED 6, 8, 96, 256, 4080, fm_dgemm_ukr_avx2_6x8, \
                          fm_dgemm_pack_a_avx2, fm_dgemm_pack_b_avx2
#define DGEMM_AVX2_GEMV 52, fm_dgemm_gemv_avx2
static const fm_sgemm_kernel sgemm_avx2 = {"avx2 6x16", SGEMM_AVX2_PACKED,
                                           6, 16, fm_sgemm_sup_avx2_6x16, 1, SGEMM_AVX2_GEMV};
static const fm_dgemm_kernel dgemm_avx2 = {"avx2 6x8", DGEMM_AVX2_PACKED,
                                           6, 8, fm_dgemm_sup_avx2_6x8, 1, DGEMM_AVX2_GEMV};
static const fm_sgemm_kernel sgemm_avx512 = {"avx512 14x32", 14, 32, 336, 512, 4096,
                                             fm_sgemm_ukr_avx512_14x32,
                                             fm_sgemm_pack_a_avx512, fm_sgemm_pack_b_avx512,
                                             14, 32, fm_sgemm_sup_avx512_14x32, 1,
                                             384, fm_sgemm_gemv_avx512};
static const fm_dgemm_kernel dgemm_avx512 = {"avx512 14x16", 14, 16, 112, 256, 4096,
                                             fm_dgemm_ukr_avx512_14x16,
                                             fm_dgemm_pack_a_avx512, fm_dgemm_pack_b_avx512,
                                             14, 16, fm_dgemm_sup_avx512_14x16, 1,
                                             192, fm_dgemm_gemv_avx512};
/* The AVX-512 path on a CPU that splits 512-bit FMAs (gemm.h) takes AVX2's
 * tables, and for small unpacked problems these: AVX2's with AVX-512's 14-row
 * tile (their names are the mixed path's, for show_config). */
static const fm_sgemm_kernel sgemm_split_wide = {"avx2 6x16 + avx512 14x32 unpacked",
                                                 SGEMM_AVX2_PACKED,
                                                 14, 32, fm_sgemm_sup_avx512_14x32, 1,
                                                 SGEMM_AVX2_GEMV};
static const fm_dgemm_kernel dgemm_split_wide = {"avx2 6x8 + avx512 14x16 unpacked",
                                                 DGEMM_AVX2_PACKED,
                                                 14, 16, fm_dgemm_sup_avx512_14x16, 1,
                                                 DGEMM_AVX2_GEMV};
#endif

static int g_gemm_path = FM_GEMM_PATH_AUTO;
static int g_full_avx512;

void fm_gemm_set_path(int path)
{
    g_gemm_path = path >= FM_GEMM_PATH_AUTO && path <= FM_GEMM_PATH_UNPACKED ? path
                                                                            : FM_GEMM_PATH_AUTO;
}

int fm_gemm_get_path(void) { return g_gemm_path; }

void fm_gemm_set_full_avx512(int on) { g_full_avx512 = on != 0; }

int fm_gemm_mixes_tiles(void)
{
    return fm_isa_active() == FM_ISA_AVX512 && fm_cpu_splits_512bit_fma() && !g_full_avx512;
}

const fm_sgemm_kernel *fm_sgemm_kernel_active(void)
{
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: return fm_gemm_mixes_tiles() ? &sgemm_avx2 : &sgemm_avx512;
    case FM_ISA_AVX2: return &sgemm_avx2;
    default: break;
    }
#endif
    return &sgemm_generic;
}

const fm_dgemm_kernel *fm_dgemm_kernel_active(void)
{
#if FM_X86_SIMD
    switch (fm_isa_active()) {
    case FM_ISA_AVX512: return fm_gemm_mixes_tiles() ? &dgemm_avx2 : &dgemm_avx512;
    case FM_ISA_AVX2: return &dgemm_avx2;
    default: break;
    }
#endif
    return &dgemm_generic;
}

const fm_sgemm_kernel *fm_sgemm_kernel_wide(void)
{
#if FM_X86_SIMD
    if (fm_gemm_mixes_tiles())
        return &sgemm_split_wide;
#endif
    return NULL;
}

const fm_dgemm_kernel *fm_dgemm_kernel_wide(void)
{
#if FM_X86_SIMD
    if (fm_gemm_mixes_tiles())
        return &dgemm_split_wide;
#endif
    return NULL;
}

fm_gemm_info fm_gemm_query(int is_double)
{
    fm_gemm_info info;
    if (is_double) {
        const fm_dgemm_kernel *kd = fm_dgemm_kernel_active();
        const fm_dgemm_kernel *wide = fm_dgemm_kernel_wide();
        info.name = wide ? wide->name : kd->name; info.mr = kd->mr; info.nr = kd->nr;
        info.mc = kd->mc; info.kc = kd->kc; info.nc = kd->nc;
    } else {
        const fm_sgemm_kernel *ks = fm_sgemm_kernel_active();
        const fm_sgemm_kernel *wide = fm_sgemm_kernel_wide();
        info.name = wide ? wide->name : ks->name; info.mr = ks->mr; info.nr = ks->nr;
        info.mc = ks->mc; info.kc = ks->kc; info.nc = ks->nc;
    }
    return info;
}
