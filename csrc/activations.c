/* activations.c: element-wise activations and their gradients, and the shared
 * bias+activation pass used by the GEMM epilogue. Mirrors reference.*_forward /
 * reference.*_backward for sigmoid, tanh, relu, leaky_relu, elu, softmax. */
#include "gemm.h"

#include <math.h>

void fm_bias_act_inplace_f32(float *y, const float *bias, fm_int n, fm_act act, float param)
{
    for (fm_int i = 0; i < n; i++) {
        float v = bias ? y[i] + bias[i] : y[i];
        switch (act) {
        case FM_ACT_RELU: v = v > 0.0f ? v : (v == v ? 0.0f : v); break;
        case FM_ACT_SIGMOID: v = 1.0f / (1.0f + expf(-v)); break;
        case FM_ACT_TANH: v = tanhf(v); break;
        case FM_ACT_LEAKY_RELU: v = v > 0.0f ? v : v * param; break;
        case FM_ACT_ELU: v = v > 0.0f ? v : param * expm1f(v); break;
        default: break;
        }
        y[i] = v;
    }
}

void fm_bias_act_inplace_f64(double *y, const double *bias, fm_int n, fm_act act, double param)
{
    for (fm_int i = 0; i < n; i++) {
        double v = bias ? y[i] + bias[i] : y[i];
        switch (act) {
        case FM_ACT_RELU: v = v > 0.0 ? v : (v == v ? 0.0 : v); break;
        case FM_ACT_SIGMOID: v = 1.0 / (1.0 + exp(-v)); break;
        case FM_ACT_TANH: v = tanh(v); break;
        case FM_ACT_LEAKY_RELU: v = v > 0.0 ? v : v * param; break;
        case FM_ACT_ELU: v = v > 0.0 ? v : param * expm1(v); break;
        default: break;
        }
        y[i] = v;
    }
}
