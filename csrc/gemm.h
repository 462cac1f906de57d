/* gemm.h: what gemm.c, the micro-kernel files and gemm_dispatch.c share.
 *
 * A micro-kernel computes one full MR x NR tile of C from packed panels:
 *   C[i, j] = beta * C[i, j] + sum_p a[p*MR + i] * b[p*ldb + j],  p = 0 .. k-1 in order,
 * with C not read when beta == 0. b is a packed panel (ldb == NR) or, when op(B)
 * rows are already contiguous, B itself (ldb == its row stride). Edge tiles never
 * reach a micro-kernel: the framework runs them into a full-size stack tile. */
#ifndef FASTMLP_GEMM_H
#define FASTMLP_GEMM_H

#include "internal.h"

#define FM_GEMM_MAX_MR 16
#define FM_GEMM_MAX_NR 32
#define FM_GEMM_MAX_GV 384   /* widest one-row kernel, in elements */

typedef void (*fm_sgemm_ukr)(fm_int k, const float *a, const float *b, fm_int ldb,
                             float *c, fm_int ldc, float beta);
typedef void (*fm_dgemm_ukr)(fm_int k, const double *a, const double *b, fm_int ldb,
                             double *c, fm_int ldc, double beta);

/* An unpacked micro-kernel (see gemm_sup_impl.h) computes a rows x cols block
 * (cols <= its NR; any rows, which it walks MR at a time; edges included) of
 *   C[i, j] = alpha * sum_p a[i*rs_a + p*cs_a] * b[p*ldb + j]  (+ beta * C[i, j])
 * reading A where it lies and the rows of B in place; C not read when beta == 0. */
typedef void (*fm_sgemm_sup)(fm_int k, const float *a, fm_int rs_a, fm_int cs_a,
                             const float *b, fm_int ldb, float *c, fm_int ldc, float alpha,
                             float beta, int rows, int cols);
typedef void (*fm_dgemm_sup)(fm_int k, const double *a, fm_int rs_a, fm_int cs_a,
                             const double *b, fm_int ldb, double *c, fm_int ldc, double alpha,
                             double beta, int rows, int cols);

/* One row: c[j] = alpha * sum_p a[p*cs_a] * b[p*ldb + j] (+ beta * c[j]) for
 * j < cols <= the kernel's gv_cols, the same sums as an unpacked tile's. */
typedef void (*fm_sgemm_gemv)(fm_int k, const float *a, fm_int cs_a, const float *b,
                              fm_int ldb, float *c, float alpha, float beta, int cols);
typedef void (*fm_dgemm_gemv)(fm_int k, const double *a, fm_int cs_a, const double *b,
                              fm_int ldb, double *c, double alpha, double beta, int cols);

/* One switch case of the ISA files' gemv drivers: the body specialised for nv
 * vectors of output, with or without a partial last vector. */
#define GEMV_CASE(body, nv)                                                    \
    case nv:                                                                   \
        if (partial)                                                           \
            body(k, a, cs_a, b, ldb, c, alpha, beta, cols, nv, 1);             \
        else                                                                   \
            body(k, a, cs_a, b, ldb, c, alpha, beta, cols, nv, 0);             \
        break;

/* A @ B (no transposes) takes the unpacked driver up to FM_GEMM_SUP_ROWS rows
 * while a row of B is at most FM_GEMM_SUP_ROW_BYTES (gemm_impl.h's sup_suits);
 * inference sizes its blocks of rows by it (infer_impl.h). */
#define FM_GEMM_SUP_ROWS 96
#define FM_GEMM_SUP_ROW_BYTES 512

/* Packing (see gemm_pack_impl.h for the layouts): one A micro-panel of `rows`
 * rows, and B micro-panels q0..q1-1 of a block `nc` columns wide. */
typedef void (*fm_sgemm_pack_a)(float *ap, const float *a, fm_int lda, int trans,
                                fm_int rows, fm_int kc, float alpha);
typedef void (*fm_sgemm_pack_b)(float *bp, const float *b, fm_int ldb, int trans,
                                fm_int q0, fm_int q1, fm_int nc, fm_int kc);
typedef void (*fm_dgemm_pack_a)(double *ap, const double *a, fm_int lda, int trans,
                                fm_int rows, fm_int kc, double alpha);
typedef void (*fm_dgemm_pack_b)(double *bp, const double *b, fm_int ldb, int trans,
                                fm_int q0, fm_int q1, fm_int nc, fm_int kc);

/* One ISA's choice: tile shape, cache blocking and micro-kernel. */
typedef struct {
    const char *name;
    int mr, nr;        /* register tile */
    int mc, kc, nc;    /* A block (L2), panel depth, B panel (L3) */
    fm_sgemm_ukr ukr;
    fm_sgemm_pack_a pack_a;
    fm_sgemm_pack_b pack_b;
    int smr, snr;      /* unpacked tile */
    fm_sgemm_sup sup;
    int sup_auto;      /* whether shapes may pick it (else only when forced) */
    int gv_cols;       /* one-row kernel for m <= 2 (NULL: the tile kernel) */
    fm_sgemm_gemv gemv;
} fm_sgemm_kernel;

typedef struct {
    const char *name;
    int mr, nr, mc, kc, nc;
    fm_dgemm_ukr ukr;
    fm_dgemm_pack_a pack_a;
    fm_dgemm_pack_b pack_b;
    int smr, snr;
    fm_dgemm_sup sup;
    int sup_auto;
    int gv_cols;
    fm_dgemm_gemv gemv;
} fm_dgemm_kernel;

/* Which driver a GEMM takes: FM_GEMM_PATH_AUTO chooses by shape (the default);
 * the others force one, for tests and benchmarks. Not thread-safe: set it
 * while no GEMM runs. */
enum { FM_GEMM_PATH_AUTO = 0, FM_GEMM_PATH_PACKED = 1, FM_GEMM_PATH_UNPACKED = 2 };
void fm_gemm_set_path(int path);
int fm_gemm_get_path(void);

const fm_sgemm_kernel *fm_sgemm_kernel_active(void);
const fm_dgemm_kernel *fm_dgemm_kernel_active(void);

/* On a CPU that splits 512-bit FMAs (Zen 4) the AVX-512 path's GEMM takes the
 * AVX2 kernels, whose 6-row tiles are as fast or faster there (large products,
 * training workload (c): 1.06-1.07x), except that a small unpacked problem
 * (wide_suits in gemm_impl.h) takes the AVX-512 14-row tile: one pass over B
 * for up to 14 rows, and a tile's set-up spread over 14 rows when k is small.
 * The wide table is the active one with that tile (same k slices, so the same
 * bits); NULL where it does not apply. fm_gemm_set_full_avx512(1) makes the
 * AVX-512 path use its own kernels throughout (tests, benchmarks). */
const fm_sgemm_kernel *fm_sgemm_kernel_wide(void);
const fm_dgemm_kernel *fm_dgemm_kernel_wide(void);
void fm_gemm_set_full_avx512(int on);
int fm_gemm_mixes_tiles(void);   /* whether the AVX-512 path mixes them now */

/* Micro-kernels, one ISA per file. */
void fm_sgemm_ukr_ref_4x8(fm_int k, const float *a, const float *b, fm_int ldb,
                          float *c, fm_int ldc, float beta);
void fm_dgemm_ukr_ref_4x4(fm_int k, const double *a, const double *b, fm_int ldb,
                          double *c, fm_int ldc, double beta);
void fm_sgemm_sup_ref_4x8(fm_int k, const float *a, fm_int rs_a, fm_int cs_a, const float *b,
                          fm_int ldb, float *c, fm_int ldc, float alpha, float beta, int rows,
                          int cols);
void fm_dgemm_sup_ref_4x4(fm_int k, const double *a, fm_int rs_a, fm_int cs_a, const double *b,
                          fm_int ldb, double *c, fm_int ldc, double alpha, double beta,
                          int rows, int cols);
void fm_sgemm_pack_a_ref(float *ap, const float *a, fm_int lda, int trans, fm_int rows,
                         fm_int kc, float alpha);
void fm_sgemm_pack_b_ref(float *bp, const float *b, fm_int ldb, int trans, fm_int q0,
                         fm_int q1, fm_int nc, fm_int kc);
void fm_dgemm_pack_a_ref(double *ap, const double *a, fm_int lda, int trans, fm_int rows,
                         fm_int kc, double alpha);
void fm_dgemm_pack_b_ref(double *bp, const double *b, fm_int ldb, int trans, fm_int q0,
                         fm_int q1, fm_int nc, fm_int kc);
#if FM_X86_SIMD
void fm_sgemm_ukr_avx2_6x16(fm_int k, const float *a, const float *b, fm_int ldb,
                            float *c, fm_int ldc, float beta);
void fm_dgemm_ukr_avx2_6x8(fm_int k, const double *a, const double *b, fm_int ldb,
                           double *c, fm_int ldc, double beta);
void fm_sgemm_sup_avx2_6x16(fm_int k, const float *a, fm_int rs_a, fm_int cs_a,
                            const float *b, fm_int ldb, float *c, fm_int ldc, float alpha,
                            float beta, int rows, int cols);
void fm_dgemm_sup_avx2_6x8(fm_int k, const double *a, fm_int rs_a, fm_int cs_a,
                           const double *b, fm_int ldb, double *c, fm_int ldc, double alpha,
                           double beta, int rows, int cols);
void fm_sgemm_gemv_avx2(fm_int k, const float *a, fm_int cs_a, const float *b, fm_int ldb,
                        float *c, float alpha, float beta, int cols);
void fm_dgemm_gemv_avx2(fm_int k, const double *a, fm_int cs_a, const double *b, fm_int ldb,
                        double *c, double alpha, double beta, int cols);
void fm_sgemm_pack_a_avx2(float *ap, const float *a, fm_int lda, int trans, fm_int rows,
                          fm_int kc, float alpha);
void fm_sgemm_pack_b_avx2(float *bp, const float *b, fm_int ldb, int trans, fm_int q0,
                          fm_int q1, fm_int nc, fm_int kc);
void fm_dgemm_pack_a_avx2(double *ap, const double *a, fm_int lda, int trans, fm_int rows,
                          fm_int kc, double alpha);
void fm_dgemm_pack_b_avx2(double *bp, const double *b, fm_int ldb, int trans, fm_int q0,
                          fm_int q1, fm_int nc, fm_int kc);
void fm_sgemm_ukr_avx512_14x32(fm_int k, const float *a, const float *b, fm_int ldb,
                               float *c, fm_int ldc, float beta);
void fm_dgemm_ukr_avx512_14x16(fm_int k, const double *a, const double *b, fm_int ldb,
                               double *c, fm_int ldc, double beta);
void fm_sgemm_sup_avx512_14x32(fm_int k, const float *a, fm_int rs_a, fm_int cs_a,
                               const float *b, fm_int ldb, float *c, fm_int ldc, float alpha,
                               float beta, int rows, int cols);
void fm_dgemm_sup_avx512_14x16(fm_int k, const double *a, fm_int rs_a, fm_int cs_a,
                               const double *b, fm_int ldb, double *c, fm_int ldc,
                               double alpha, double beta, int rows, int cols);
void fm_sgemm_gemv_avx512(fm_int k, const float *a, fm_int cs_a, const float *b, fm_int ldb,
                        float *c, float alpha, float beta, int cols);
void fm_dgemm_gemv_avx512(fm_int k, const double *a, fm_int cs_a, const double *b, fm_int ldb,
                        double *c, double alpha, double beta, int cols);
void fm_sgemm_pack_a_avx512(float *ap, const float *a, fm_int lda, int trans, fm_int rows,
                            fm_int kc, float alpha);
void fm_sgemm_pack_b_avx512(float *bp, const float *b, fm_int ldb, int trans, fm_int q0,
                            fm_int q1, fm_int nc, fm_int kc);
void fm_dgemm_pack_a_avx512(double *ap, const double *a, fm_int lda, int trans, fm_int rows,
                            fm_int kc, double alpha);
void fm_dgemm_pack_b_avx512(double *bp, const double *b, fm_int ldb, int trans, fm_int q0,
                            fm_int q1, fm_int nc, fm_int kc);
#endif

/* activations.c: y[i] = act(y[i] + bias[i]) in place for i < n (bias may be NULL),
 * serial; the GEMM epilogue and the unfused activation kernels share it so that
 * fused and unfused dense layers agree bit for bit. */
void fm_bias_act_inplace_f32(float *y, const float *bias, fm_int n, fm_act act, float param);
void fm_bias_act_inplace_f64(double *y, const double *bias, fm_int n, fm_act act, double param);

#endif /* FASTMLP_GEMM_H */
