/* optim_api_impl.h: the public entry points of optim.c for one dtype, included
 * at its end with T = float / double and FN(name) = name ## _f32 / _f64. Each
 * forms its rule's scalars in double (*_coefs) and runs that dtype's driver
 * (optim_driver_impl.h) once over the whole list. */

void FN(fm_sgd_update)(T *const *params, T *const *momentum_buffers, const T *const *grads,
                       const fm_int *sizes, fm_int n_arrays, double lr, double momentum,
                       double dampening, double weight_decay, int nesterov, int first,
                       int n_threads)
{
    optim_coefs c = sgd_coefs(lr, momentum, dampening, weight_decay, nesterov, first);
    FN(update)(params, momentum_buffers, NULL, NULL, grads, sizes, n_arrays, &c, OPT_SGD,
               n_threads);
}

void FN(fm_adagrad_update)(T *const *params, T *const *state_sums, const T *const *grads,
                           const fm_int *sizes, fm_int n_arrays, double clr, double eps,
                           double weight_decay, int n_threads)
{
    optim_coefs c = adagrad_coefs(clr, eps, weight_decay);
    FN(update)(params, state_sums, NULL, NULL, grads, sizes, n_arrays, &c, OPT_ADAGRAD,
               n_threads);
}

void FN(fm_rmsprop_update)(T *const *params, T *const *square_avgs, T *const *momentum_buffers,
                           T *const *grad_avgs, const T *const *grads, const fm_int *sizes,
                           fm_int n_arrays, double lr, double alpha, double eps, double momentum,
                           double weight_decay, int centered, int n_threads)
{
    optim_coefs c = rmsprop_coefs(lr, alpha, eps, momentum, weight_decay, centered);
    FN(update)(params, square_avgs, momentum_buffers, grad_avgs, grads, sizes, n_arrays, &c,
               OPT_RMSPROP, n_threads);
}

void FN(fm_adam_update)(T *const *params, T *const *exp_avgs, T *const *exp_avg_sqs,
                        const T *const *grads, const fm_int *sizes, fm_int n_arrays, double lr,
                        double beta1, double beta2, double eps, double weight_decay,
                        int decoupled, fm_int step, int n_threads)
{
    optim_coefs c = adam_coefs(lr, beta1, beta2, eps, weight_decay, decoupled, step);
    FN(update)(params, exp_avgs, exp_avg_sqs, NULL, grads, sizes, n_arrays, &c, OPT_ADAM,
               n_threads);
}

int FN(fm_grad_norm)(double *norm, const T *const *grads, const fm_int *sizes, fm_int n_arrays,
                     int n_threads)
{
    return FN(grad_norm)(norm, grads, sizes, n_arrays, n_threads);
}

void FN(fm_grad_scale)(T *const *grads, const fm_int *sizes, fm_int n_arrays, double scale,
                       int n_threads)
{
    FN(map)(grads, sizes, n_arrays, scale, 0.0, 0, n_threads);
}

void FN(fm_grad_clamp)(T *const *grads, const fm_int *sizes, fm_int n_arrays, double lo,
                       double hi, int n_threads)
{
    FN(map)(grads, sizes, n_arrays, lo, hi, 1, n_threads);
}
