/* rng.h: the counter-based generator shared by rng.c and dropout.c (internal).
 *
 * Philox4x32-10 keyed by a 64-bit seed; the 128-bit counter is (block_lo,
 * block_hi, stream_lo, stream_hi). Element i of stream (seed, stream) sits in
 * group g = i / 64 at r = i % 64 and takes word r / 16 of block g * 16 + r % 16
 * (see reference.rng_bits): the 16 blocks of a group are 16 SIMD lanes, and each
 * output word is 16 contiguous elements, so no transpose is needed. */
#ifndef FASTMLP_RNG_H
#define FASTMLP_RNG_H

#include "internal.h"

#define FM_RNG_GROUP 64

/* out[0 .. 64*ngroups) = the bits of elements 64*g0 .. 64*(g0+ngroups), on the
 * active ISA (every path gives the same bits). */
void fm_philox_groups(uint32_t *out, fm_int g0, fm_int ngroups, uint64_t seed, uint64_t stream);

/* word 0 of the Philox block with counter (lo(block), hi(block), lo(stream),
 * hi(stream)) under the key seed: one-off draws (dropout's tie refinement) */
uint32_t fm_philox_word0(uint64_t block, uint64_t seed, uint64_t stream);

#endif /* FASTMLP_RNG_H */
