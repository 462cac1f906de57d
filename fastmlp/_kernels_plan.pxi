# ---- training plan (csrc/plan.c), included by _kernels.pyx
#
# TrainPlan holds an fm_train_plan: the layers' arrays (as pointers, with the
# arrays kept alive here), the optimizer's pointer lists and hyperparameters,
# and the workspaces plan.c allocates once. fastmlp._plan builds it from a
# model and drives it chunk by chunk; run() releases the GIL for a whole chunk.
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memset

cdef extern from "fastmlp.h" nogil:
    ctypedef enum fm_plan_op:
        FM_PLAN_DENSE
        FM_PLAN_ACT
        FM_PLAN_SOFTMAX
        FM_PLAN_BATCHNORM
        FM_PLAN_DROPOUT
    ctypedef enum fm_plan_loss:
        FM_PLAN_LABELS
        FM_PLAN_PROBS
        FM_PLAN_MSE
    ctypedef enum fm_plan_opt:
        FM_PLAN_SGD
        FM_PLAN_ADAGRAD
        FM_PLAN_RMSPROP
        FM_PLAN_ADAM
    ctypedef struct fm_plan_layer:
        fm_plan_op op
        fm_int d_in, d_out
        fm_act act
        double act_param
        int need_dx
        void *W
        void *b
        void *dW
        void *db
        double l1, l2
        void *gamma
        void *beta
        void *dgamma
        void *dbeta
        void *running_mean
        void *running_var
        double momentum, eps
        double p
        uint64_t seed, counter
    ctypedef struct fm_train_plan:
        int is_double
        fm_int n_layers
        fm_plan_layer *layers
        fm_int cap, d_x, d_t
        fm_plan_loss loss
        int penalize, has_clip_norm, has_clip_value
        double clip_norm, clip_value
        fm_plan_opt opt
        fm_int n_params
        void **params
        void **grads
        void **state0
        void **state1
        void **state2
        fm_int *sizes
        double lr, momentum, dampening, weight_decay, alpha, eps, beta1, beta2, lr_decay
        int nesterov, centered, decoupled, first
        fm_int step
        void *block
    int fm_train_plan_alloc(fm_train_plan *plan)
    void fm_train_plan_free(fm_train_plan *plan)
    fm_int fm_train_plan_run(fm_train_plan *plan, const void *X, const void *T,
                             const int64_t *labels, const int64_t *order, const fm_int *starts,
                             fm_int b0, fm_int n_batches, double *losses, fm_int *correct,
                             int check_x, int *status, int n_threads)


PLAN_OPS = {"dense": FM_PLAN_DENSE, "act": FM_PLAN_ACT, "softmax": FM_PLAN_SOFTMAX,
            "batchnorm": FM_PLAN_BATCHNORM, "dropout": FM_PLAN_DROPOUT}
PLAN_LOSSES = {"labels": FM_PLAN_LABELS, "probs": FM_PLAN_PROBS, "mse": FM_PLAN_MSE}
PLAN_OPTIMIZERS = {"sgd": FM_PLAN_SGD, "adagrad": FM_PLAN_ADAGRAD, "rmsprop": FM_PLAN_RMSPROP,
                   "adam": FM_PLAN_ADAM}


cdef class TrainPlan:
    """A compiled training step for a list of layer specs (dicts made by
    fastmlp._plan); see csrc/plan.c. Arrays given to it are kept alive here."""
    cdef fm_train_plan plan
    cdef list keep              # every array a pointer was taken from
    cdef list opt_keep
    cdef void **ptrs            # params, grads, state0..2: 5 rows of n_params
    cdef fm_int *sizes
    cdef readonly fm_int last_done      # batches the last run() completed
    cdef readonly int last_status       # 0, 1 non-finite loss, 2 non-finite rows (check_x), -1 no memory

    def __cinit__(self, list layers not None, bint is_double, fm_int cap, fm_int d_x, fm_int d_t,
                  str loss not None):
        cdef Py_ssize_t n = len(layers), l
        cdef fm_plan_layer *L
        self.plan.layers = <fm_plan_layer *>PyMem_Malloc(max(n, 1) * sizeof(fm_plan_layer))
        if not self.plan.layers:
            raise MemoryError()
        memset(self.plan.layers, 0, max(n, 1) * sizeof(fm_plan_layer))
        self.plan.n_layers = n
        self.plan.is_double = is_double
        self.plan.cap = cap
        self.plan.d_x = d_x
        self.plan.d_t = d_t
        self.plan.loss = <fm_plan_loss>PLAN_LOSSES[loss]
        self.keep = []
        self.opt_keep = []
        for l in range(n):
            spec = layers[l]
            L = &self.plan.layers[l]
            L.op = <fm_plan_op>PLAN_OPS[spec["op"]]
            L.d_in = spec["d_in"]
            L.d_out = spec["d_out"]
            L.act = <fm_act>ACT_CODES[spec.get("act", "identity")]
            L.act_param = spec.get("act_param", 0.0)
            L.need_dx = spec.get("need_dx", True)
            L.l1 = spec.get("l1", 0.0)
            L.l2 = spec.get("l2", 0.0)
            L.momentum = spec.get("momentum", 0.0)
            L.eps = spec.get("eps", 0.0)
            L.p = spec.get("p", 0.0)
            L.seed = spec.get("seed", 0)
            L.counter = spec.get("counter", 0)
            L.W = self._ptr(spec.get("W"))
            L.b = self._ptr(spec.get("b"))
            L.dW = self._ptr(spec.get("dW"))
            L.db = self._ptr(spec.get("db"))
            L.gamma = self._ptr(spec.get("gamma"))
            L.beta = self._ptr(spec.get("beta"))
            L.dgamma = self._ptr(spec.get("dgamma"))
            L.dbeta = self._ptr(spec.get("dbeta"))
            L.running_mean = self._ptr(spec.get("running_mean"))
            L.running_var = self._ptr(spec.get("running_var"))
        if fm_train_plan_alloc(&self.plan) != 0:
            raise MemoryError("fastmlp: cannot allocate the training plan's workspaces")

    cdef void *_ptr(self, a):
        if a is None:
            return NULL
        self.keep.append(a)
        return cnp.PyArray_DATA(<cnp.ndarray>a)

    def __dealloc__(self):
        fm_train_plan_free(&self.plan)
        PyMem_Free(self.plan.layers)
        PyMem_Free(self.ptrs)
        PyMem_Free(self.sizes)

    def set_optimizer(self, list params not None, list grads not None, list states not None,
                      str kind not None):
        """Point the update at params, grads and 3 state slots (None or a list each)."""
        cdef Py_ssize_t n = len(params), i, k
        PyMem_Free(self.ptrs)
        PyMem_Free(self.sizes)
        self.ptrs = <void **>PyMem_Malloc(max(5 * n, 1) * sizeof(void *))
        self.sizes = <fm_int *>PyMem_Malloc(max(n, 1) * sizeof(fm_int))
        if not self.ptrs or not self.sizes:
            raise MemoryError()
        self.opt_keep = [params, grads, states]
        for i in range(n):
            self.ptrs[i] = cnp.PyArray_DATA(<cnp.ndarray>params[i])
            self.ptrs[n + i] = cnp.PyArray_DATA(<cnp.ndarray>grads[i])
            self.sizes[i] = cnp.PyArray_SIZE(<cnp.ndarray>params[i])
            for k in range(3):
                self.ptrs[(2 + k) * n + i] = (NULL if states[k] is None
                                              else cnp.PyArray_DATA(<cnp.ndarray>states[k][i]))
        self.plan.opt = <fm_plan_opt>PLAN_OPTIMIZERS[kind]
        self.plan.n_params = n
        self.plan.params = self.ptrs
        self.plan.grads = self.ptrs + n
        self.plan.state0 = self.ptrs + 2 * n if states[0] is not None else NULL
        self.plan.state1 = self.ptrs + 3 * n if states[1] is not None else NULL
        self.plan.state2 = self.ptrs + 4 * n if states[2] is not None else NULL
        self.plan.sizes = self.sizes

    def set_hyper(self, double lr, double momentum=0.0, double dampening=0.0,
                  double weight_decay=0.0, double alpha=0.0, double eps=0.0, double beta1=0.0,
                  double beta2=0.0, double lr_decay=0.0, bint nesterov=False,
                  bint centered=False, bint decoupled=False, bint first=False, fm_int step=0,
                  penalize=False, clip_norm=None, clip_value=None):
        """The optimizer's hyperparameters and counters, the penalty switch and clipping."""
        self.plan.lr = lr
        self.plan.momentum = momentum
        self.plan.dampening = dampening
        self.plan.weight_decay = weight_decay
        self.plan.alpha = alpha
        self.plan.eps = eps
        self.plan.beta1 = beta1
        self.plan.beta2 = beta2
        self.plan.lr_decay = lr_decay
        self.plan.nesterov = nesterov
        self.plan.centered = centered
        self.plan.decoupled = decoupled
        self.plan.first = first
        self.plan.step = step
        self.plan.penalize = bool(penalize)
        self.plan.has_clip_norm = clip_norm is not None
        self.plan.clip_norm = clip_norm if clip_norm is not None else 0.0
        self.plan.has_clip_value = clip_value is not None
        self.plan.clip_value = clip_value if clip_value is not None else 0.0

    @property
    def step(self):
        return self.plan.step

    @property
    def first(self):
        return bool(self.plan.first)

    def get_counter(self, Py_ssize_t l):
        return self.plan.layers[l].counter

    def set_counter(self, Py_ssize_t l, uint64_t counter):
        self.plan.layers[l].counter = counter

    def set_lr(self, double lr):
        self.plan.lr = lr

    def run(self, cnp.ndarray X not None, cnp.ndarray T not None, labels, order,
            cnp.ndarray starts not None, fm_int b0, fm_int n_batches,
            cnp.ndarray losses not None, cnp.ndarray correct not None, int n_threads,
            bint check_x=False):
        """Batches b0..b0+n_batches-1 (see fm_train_plan_run); the batches done and the
        status are kept in last_done / last_status before anything can interrupt."""
        cdef const void *px = cnp.PyArray_DATA(X)
        cdef const void *pt = cnp.PyArray_DATA(T)
        cdef const int64_t *pl = <const int64_t *>ptr_or_null(labels)
        cdef const int64_t *po = <const int64_t *>ptr_or_null(order)
        cdef const fm_int *ps = <const fm_int *>cnp.PyArray_DATA(starts)
        cdef double *pv = <double *>cnp.PyArray_DATA(losses)
        cdef fm_int *pc = <fm_int *>cnp.PyArray_DATA(correct)
        cdef int status = 0
        cdef fm_int done
        self.last_done = 0
        self.last_status = 0
        with nogil:
            done = fm_train_plan_run(&self.plan, px, pt, pl, po, ps, b0, n_batches, pv, pc,
                                     check_x, &status, n_threads)
        self.last_done = done
        self.last_status = status
        if status < 0:
            raise MemoryError("fastmlp: cannot allocate a kernel workspace")
