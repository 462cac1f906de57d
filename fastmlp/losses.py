"""Losses: ``forward(output, target) -> float`` (mean over the batch) and
``backward() -> grad_output`` (dL/d output of the last forward).

The gradient array is kept and reused while the batch shape stays the same, so a
training loop allocates nothing per step; the array ``backward`` returns is
overwritten by the next ``forward``.
"""
import numpy as np

from . import _config, ops

__all__ = ["Loss", "SoftmaxCrossEntropy", "MSE", "BCEWithLogits", "KLDiv", "get_loss", "LOSSES"]


class Loss:
    """Base class: subclasses set ``name`` and implement ``_compute(output, target, grad)``."""

    name = None
    #: whether the targets are classes (the model then reports accuracy, predicts labels)
    classification = False

    def __init__(self):
        self._grad = None
        self._has_grad = False

    def _grad_buffer(self, output):
        g = self._grad
        if g is None or g.shape != output.shape or g.dtype != output.dtype:
            g = self._grad = np.empty(output.shape, output.dtype)
        return g

    def forward(self, output, target):
        output = ops.check_float_array(output, "output")
        loss, _ = self._compute(output, target, self._grad_buffer(output))
        self._has_grad = True
        return loss

    def __call__(self, output, target):
        return self.forward(output, target)

    def backward(self):
        if not self._has_grad:
            raise RuntimeError(f"{type(self).__name__}: backward called before forward")
        return self._grad

    def __repr__(self):
        return f"{type(self).__name__}()"


def _column_target(output, target):
    """A (N,) target against an (N, 1) output is taken as a column."""
    if (isinstance(target, np.ndarray) and output.ndim == 2 and output.shape[1] == 1
            and target.shape == (output.shape[0],)):
        return target.reshape(-1, 1)
    return target


class SoftmaxCrossEntropy(Loss):
    """Softmax + cross-entropy fused, on logits (N, C) against integer labels (N,)
    or class probabilities (N, C); gradient (softmax - target) / N."""

    name = "softmax_cross_entropy"
    classification = True

    def _compute(self, output, target, grad):
        if (type(target) is np.ndarray and target.dtype == np.int64 and target.ndim == 1 and output.ndim == 2
                and target.shape[0] == output.shape[0] and target.flags.c_contiguous):
            # the common case (a batch of int64 labels), checked here: straight to the kernel
            return _config.backend().softmax_cross_entropy(grad, output, target, ops.threads())
        return ops.softmax_cross_entropy(output, target, grad=grad)


class MSE(Loss):
    """Mean squared error over all elements (PyTorch's MSELoss)."""

    name = "mse"

    def _compute(self, output, target, grad):
        return ops.mse(output, _column_target(output, target), grad=grad)


class BCEWithLogits(Loss):
    """Binary cross-entropy on logits, mean over all elements (PyTorch's
    BCEWithLogitsLoss), stable for any finite logits."""

    name = "bce_with_logits"
    classification = True

    def _compute(self, output, target, grad):
        return ops.bce_with_logits(output, _column_target(output, target), grad=grad)


class KLDiv(Loss):
    """KL(target || softmax(output)) averaged over the batch.

    Takes the model's raw outputs (logits, N x C) like ``SoftmaxCrossEntropy`` and a
    target distribution (N, C): the same value as PyTorch's
    ``KLDivLoss(reduction="batchmean")(log_softmax(output), target)`` (0 log 0 = 0).
    Its gradient is the cross-entropy's, (softmax * rowsum(target) - target) / N.
    """

    name = "kl_div"

    def _compute(self, output, target, grad):
        return ops.kl_div(output, target, grad=grad)


LOSSES = {cls.name: cls for cls in (SoftmaxCrossEntropy, MSE, BCEWithLogits, KLDiv)}
_ALIASES = {"cross_entropy": "softmax_cross_entropy", "categorical_crossentropy": "softmax_cross_entropy",
            "mean_squared_error": "mse", "binary_crossentropy": "bce_with_logits", "kld": "kl_div"}


def get_loss(loss):
    """A loss object from a name in LOSSES (a new instance), a Loss class, or a Loss instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str):
        key = _ALIASES.get(loss, loss)
        if key in LOSSES:
            return LOSSES[key]()
        raise ValueError(f"Unknown loss {loss!r}; expected one of {tuple(LOSSES)}")
    raise TypeError(f"loss must be a name or a Loss, got {type(loss).__name__}")
