"""``dineof``: Data Interpolating Empirical Orthogonal Functions.

Beckers & Rixen (2003), Alvera-Azcárate et al. (2005). The batch is one matrix
X (M ocean cells of all levels x N months) of anomalies from the train monthly
climatology, divided by each level's train anomaly standard deviation when
``standardize``; missing entries start at zero. For k = 1, 2, ... modes the
missing entries are replaced by the rank-k truncated SVD of X,

    X_miss <- (U_k S_k V_k^T)_miss,   until |change| / |X_miss| < tol,

starting from the previous k's result. A cross-validation set drawn from the
observations (min(0.01 M N + 40, 0.03 M N) entries, as in the reference
Fortran) is held out as missing; k stops growing after its error rises three
times in a row, and the final reconstruction uses the best k with the
cross-validation entries put back. Observed entries are kept as observed.

A practitioner with a long record appends it: ``train_months`` fully observed
months of the train split become extra columns (they fix the EOFs; only the
batch's columns have gaps). Gappy training data (NaN where not observed) is
DINEOF's own business: its months are appended as columns with gaps, filled
with the batch's. The truncated SVD is exact (eigh of the N x N
Gram matrix) for up to 256 columns; for longer series it is tracked by block
power iteration, one step per filling iteration, warm-started across
iterations and across k, so each iteration costs O(M N k), not O(M N^2).

Optionally (``filter_alpha`` > 0) the temporal covariance X^T X is filtered
before each decomposition, C_f = F X^T X F^T with F = (I + alpha L)^n and L
the second derivative in time (Alvera-Azcarate et al. 2009); the EOFs V_k are
then the top eigenvectors of C_f, with amplitudes s_i = sqrt(eigenvalue), and
the filling is X V_k D V_k^T, D = diag(s_i / |X v_i|) (the reference code's
U = X V normalised, times S; D = I without the filter).

Cost: each iteration sweeps X once, in cache-sized row chunks that are filled
and added to the next X^T X in the same pass. X is held in float32 (the
observations' precision): the relative rounding, 1e-7, is far below ``tol``;
the Gram matrix is accumulated and decomposed in float64, and observed entries
are returned exactly.
"""

from __future__ import annotations

import numpy as np

from reconbench.errors import InputError
from reconbench.methods.base import Method
from reconbench.methods.climatology import Climatology
from reconbench.methods.registry import register_method

DAYS_PER_MONTH = 365.25 / 12


def month_number(times: np.ndarray) -> np.ndarray:
    """Time in months since 1970 (float, mean months of 365.25 / 12 days) of
    datetime64 ``times`` (N,)."""
    seconds = np.asarray(times).astype("datetime64[s]").astype(np.float64)
    return seconds / (86400.0 * DAYS_PER_MONTH)


def cv_mask(known: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cross-validation entries: a random subset of the ``known`` (M, N) entries.

    Size min(0.01 M N + 40, 0.03 M N), and at most a third of the known entries.
    """
    size = known.size
    n_cv = int(min(0.01 * size + 40, 0.03 * size, known.sum() // 3))
    cv = np.zeros(known.shape, dtype=bool)
    cv.flat[rng.choice(np.flatnonzero(known), size=n_cv, replace=False)] = True
    return cv


EXACT_MAX_COLUMNS = 256  # up to this many columns the SVD is exact (eigh of the Gram)
CHUNK_ELEMENTS = 1 << 18  # rows are processed in chunks of about this many entries


def row_chunks(n_rows: int, n_columns: int) -> list[slice]:
    """Slices of about ``CHUNK_ELEMENTS`` entries over ``n_rows`` rows (cache-sized)."""
    step = max(1, CHUNK_ELEMENTS // max(n_columns, 1))
    return [slice(i, i + step) for i in range(0, n_rows, step)]


def stack_product(x: np.ndarray, fixed: np.ndarray | None, v: np.ndarray) -> np.ndarray:
    """[x | fixed] @ v for x (M, n), fixed (M, m) or None, v (n + m, k)."""
    n = x.shape[1]
    return x @ v[:n] if fixed is None else x @ v[:n] + fixed @ v[n:]


def laplacian_filter(times: np.ndarray, alpha: float, iterations: int) -> np.ndarray:
    """The temporal filter F = (I + alpha L)^iterations, (N, N), for columns at ``times`` (N,).

    L is the second derivative in time in flux form on the possibly irregular
    ``times`` (any order, distinct, in months): (L c)_i = (f_{i+1/2} - f_{i-1/2})
    / w_i with the flux f_{i+1/2} = (c_{i+1} - c_i) / (t_{i+1} - t_i) between
    neighbours in time, no flux through the ends, and w_i the width between the
    mid-points around t_i. The filter's length is about 2 pi sqrt(alpha *
    iterations) months; the explicit steps are stable for alpha <= dt_min² / 2
    (0.5 for monthly columns), checked here. Alvera-Azcarate, Barth, Sirjacobs, Lenartz
    & Beckers (2009), "Enhancing temporal correlations in EOF expansions for the
    reconstruction of missing data using DINEOF", Ocean Science 5, 475-485.
    """
    n = times.size
    order = np.argsort(times)
    t = times[order].astype(np.float64)
    if np.any(np.diff(t) <= 0):
        raise InputError("dineof temporal filter needs distinct column times; a batch month "
                         "is also among the train columns (use train_months=0)")
    if alpha > 0.5 * np.min(np.diff(t)) ** 2:
        raise InputError(f"dineof filter_alpha must be at most half the square of the "
                         f"smallest time step ({0.5 * np.min(np.diff(t)) ** 2:.3g} months²) "
                         f"for a stable filter, got {alpha!r}")
    edges = np.concatenate([[1.5 * t[0] - 0.5 * t[1]], (t[1:] + t[:-1]) / 2,
                            [1.5 * t[-1] - 0.5 * t[-2]]])
    flux = np.zeros((n + 1, n))  # row j: the flux through edge j as a function of c
    gap = np.arange(n - 1)
    flux[gap + 1, gap + 1] = 1.0 / np.diff(t)
    flux[gap + 1, gap] = -1.0 / np.diff(t)
    lap_sorted = (flux[1:] - flux[:-1]) / np.diff(edges)[:, None]
    step = np.eye(n)
    step[np.ix_(order, order)] += alpha * lap_sorted
    return np.linalg.matrix_power(step, iterations)


def gram(x: np.ndarray, fixed: np.ndarray | None, fixed_gram: np.ndarray | None,
         x_gram: np.ndarray | None = None, cross: np.ndarray | None = None) -> np.ndarray:
    """The Gram matrix (N, N) of X = [x | fixed], from ``x_gram`` = x^T x and
    ``cross`` = x^T fixed when the caller has them (accumulated chunk by chunk)."""
    if x_gram is None:
        x_gram = np.zeros((x.shape[1],) * 2)
        cross = None if fixed is None else np.zeros((x.shape[1], fixed.shape[1]))
        for rows in row_chunks(*x.shape):
            x_gram += x[rows].T @ x[rows]
            if fixed is not None:
                cross += x[rows].T @ fixed[rows]
    if fixed is None:
        return x_gram
    return np.block([[x_gram, cross], [cross.T, fixed_gram]])


def refine(x: np.ndarray, fixed: np.ndarray | None, basis: np.ndarray,
           gram_now: np.ndarray | None, filt: np.ndarray | None
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """Top-k right singular vectors (N, k) of X = [x | fixed], k = basis.shape[1].

    With ``gram_now`` (X^T X, N x N), exact: the top eigenvectors of F X^T X F^T
    (F the temporal filter ``filt``, or the identity when None). Without it, one
    block power step from ``basis``: V = orth(F X^T orth(X F^T V)).

    Also returns, with a filter, the amplitudes (k,) d_i = s_i / |X v_i| of the
    modes, s_i² the eigenvalues of F X^T X F^T (the reference code's
    U = X V normalised, times S); None without a filter (d = 1).
    """
    k = basis.shape[1]
    if gram_now is not None:
        cov = gram_now if filt is None else filt @ gram_now @ filt.T
        eigenvalues, vectors = np.linalg.eigh(cov)
        v = vectors[:, -k:]
        if filt is None:
            return v, None
        s2, xv2 = eigenvalues[-k:], np.einsum("ik,ij,jk->k", v, gram_now, v)
    else:
        start = basis if filt is None else filt.T @ basis
        q = np.linalg.qr(stack_product(x, fixed, start))[0]
        z = x.T @ q if fixed is None else np.vstack([x.T @ q, fixed.T @ q])
        v = np.linalg.qr(z if filt is None else filt @ z)[0]
        if filt is None:
            return v, None
        s2 = np.sum(stack_product(x, fixed, filt.T @ v) ** 2, axis=0)  # v^T F X^T X F^T v
        xv2 = np.sum(stack_product(x, fixed, v) ** 2, axis=0)
    return v, np.sqrt(np.maximum(s2, 0.0) / np.maximum(xv2, 1e-30))


def complete(x: np.ndarray, known: np.ndarray, fixed: np.ndarray | None, basis: np.ndarray,
             tol: float, max_iter: int, filt: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Iterate rank-k SVD filling of the entries of ``x`` (M, n) that are not ``known``.

    ``x`` holds the current guesses at the unknown entries (updated in place).
    ``fixed`` (M, m) are complete extra columns, or None. ``basis`` (n + m, k) is
    the current guess of the top right singular vectors V_k; each iteration
    refines it (:func:`refine`) and replaces the unknown entries by those of
    X V_k V_k^T, the rank-k truncation. ``filt`` (n + m, n + m) is the temporal
    filter of the covariance, or None; with it the modes are weighted by their
    amplitudes, X V_k D V_k^T (see :func:`refine`). Only the known entries of ``x`` and the
    guesses are read. Returns ``x`` and the refined basis.

    The matrix is swept once per iteration, in row chunks: each chunk is
    filled, and (exact case) its contribution to the next X^T X is added while
    it is in cache.
    """
    n = x.shape[1]
    n_columns = n + (0 if fixed is None else fixed.shape[1])
    exact = n_columns <= EXACT_MAX_COLUMNS
    fixed_gram = None if fixed is None else (fixed.T @ fixed).astype(np.float64)
    gram_now = gram(x, fixed, fixed_gram) if exact else None
    known_part = sum(float(np.vdot(x[rows], x[rows] * known[rows]))  # |X_known|², fixed
                     for rows in row_chunks(*x.shape))
    for _ in range(max_iter):
        basis, amplitude = refine(x, fixed, basis, gram_now, filt)
        work = basis.astype(x.dtype)  # products in the matrix's precision
        scaled = work if amplitude is None else work * amplitude.astype(x.dtype)
        x_gram = np.zeros((n, n)) if exact else None
        cross = np.zeros((n, n_columns - n)) if exact and fixed is not None else None
        step2, new2 = 0.0, -known_part
        for rows in row_chunks(*x.shape):
            old = x[rows]
            new = stack_product(old, None if fixed is None else fixed[rows], scaled) @ work[:n].T
            np.copyto(new, old, where=known[rows])  # the known entries stay
            step = new - old
            step2 += float(np.vdot(step, step))
            new2 += float(np.vdot(new, new))
            x[rows] = new
            if exact:
                x_gram += new.T @ new
                if fixed is not None:
                    cross += new.T @ fixed[rows]
        if exact:
            gram_now = gram(x, fixed, fixed_gram, x_gram, cross)
        if np.sqrt(step2) / max(np.sqrt(max(new2, 0.0)), 1e-12) < tol:
            break
    return x, basis


def grow(basis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``basis`` (N, k) with one random direction added, orthonormal (N, k + 1)."""
    extra = rng.standard_normal((basis.shape[0], 1))
    return np.linalg.qr(np.hstack([basis, extra]))[0]


def dineof(values: np.ndarray, known: np.ndarray, fixed=None, max_modes: int = 30,
           tol: float = 1e-3, max_iter: int = 100,
           rng: np.random.Generator | None = None, filter_alpha: float = 0.0,
           filter_iterations: int = 3, times: np.ndarray | None = None
           ) -> tuple[np.ndarray, dict]:
    """Complete ``values`` (M, n), trusted where ``known``, by DINEOF.

    ``fixed`` (M, m) are complete extra columns, or None. With ``filter_alpha``
    > 0 the temporal covariance is filtered (:func:`laplacian_filter`) before
    each EOF decomposition; ``times`` (n + m,) are the columns' times in months
    (None: 0, 1, 2, ...). Returns the completed matrix (known entries
    unchanged) and a record: ``modes`` (the chosen k), ``cv_errors`` (RMS error
    on the cross-validation entries for k = 1, 2, ...), ``n_cv`` (their number).
    """
    rng = rng or np.random.default_rng(0)
    n_columns = values.shape[1] + (0 if fixed is None else fixed.shape[1])
    times = np.arange(n_columns, dtype=float) if times is None else np.asarray(times, float)
    filt = (laplacian_filter(times, filter_alpha, filter_iterations)
            if filter_alpha > 0 and filter_iterations > 0 and n_columns > 1 else None)
    k_max = min(max_modes, n_columns - 1, values.shape[0] - 1)
    if k_max < 1:  # a single column: no EOF to learn, the mean (zero anomaly) stands
        return np.where(known, values, 0.0), {"modes": 0, "cv_errors": [], "n_cv": 0}
    cv = cv_mask(known, rng)
    fit_known = known & ~cv
    fixed = None if fixed is None else np.asarray(fixed, np.float32)
    x = np.where(fit_known, values, 0.0).astype(np.float32)  # float32: see the module
    basis = np.zeros((n_columns, 0))
    errors, best, rises = [], (x.copy(), basis), 0
    for k in range(1, k_max + 1):
        x, basis = complete(x, fit_known, fixed, grow(basis, rng), tol, max_iter, filt)
        errors.append(float(np.sqrt(np.mean((x[cv] - values[cv]) ** 2))) if cv.any() else 0.0)
        if errors[-1] <= min(errors):
            best = (x.copy(), basis)
        rises = rises + 1 if k > 1 and errors[-1] > errors[-2] else 0
        if rises == 3 or not cv.any():
            break
    x = np.where(known, values, best[0]).astype(np.float32)  # the CV entries go back in
    x, _ = complete(x, known, fixed, best[1], tol, max_iter, filt)
    record = {"modes": best[1].shape[1], "cv_errors": [round(e, 6) for e in errors],
              "n_cv": int(cv.sum())}
    return np.where(known, values, x), record


@register_method("dineof")
class Dineof(Method):
    """DINEOF on the batch of months, optionally with the train split as extra columns.

    Parameters
    ----------
    max_modes : largest number of EOF modes tried.
    train_months : the last ``train_months`` months of the train split are
        appended as fully observed columns (as columns with gaps when the
        training data is gappy); 0 uses the batch alone (the
        classical setting, weak for a short batch: a cell observed in no month
        of the batch keeps the climatology).
    standardize : divide each level's anomalies by its train anomaly standard
        deviation, so that deep, quiet levels weigh as much as the surface.
    tol : relative change of the missing entries that ends the iterations.
    max_iter : iterations per number of modes at most.
    seed : seeds the cross-validation draw.
    filter_alpha : strength of the temporal filter of the covariance
        (Alvera-Azcarate et al. 2009), in months², 0 to 0.5; 0 (the default)
        switches it off.
    filter_iterations : steps of the filter (its length is about
        2 pi sqrt(filter_alpha * filter_iterations) months).
    train_memory_mb : memory budget of the appended train columns (float32, one
        row per ocean cell of every level), in MB: when ``train_months`` columns
        would exceed it, only the last months that fit are appended (and only
        they, or at least a year for the level scales, are read from the train
        split). ``fitted_params`` records the budget, the columns kept and their
        size. None: no budget.
    """

    #: Values ``reconbench tune`` tries by default: the train record appended (none,
    #: the last ten years, or all of it: 1200 months takes the whole of a split of up
    #: to 100 years), the largest number of modes, the temporal filter (off or on).
    search_space = {"train_months": [0, 120, 1200], "max_modes": [10, 30, 60],
                    "filter_alpha": [0.0, 0.1]}

    #: Read by reconstruct alone (a fit serves every value; see Method.predict_params).
    predict_params = ("max_modes", "tol", "max_iter", "seed")

    def __init__(self, max_modes: int = 30, train_months: int = 120, standardize: bool = True,
                 tol: float = 1e-3, max_iter: int = 40, seed: int = 0,
                 filter_alpha: float = 0.0, filter_iterations: int = 3,
                 train_memory_mb: float | None = 1024.0):
        self.max_modes = max_modes
        self.train_months = train_months
        self.standardize = standardize
        self.tol = tol
        self.max_iter = max_iter
        self.seed = seed
        self.filter_alpha = filter_alpha
        self.filter_iterations = filter_iterations
        self.train_memory_mb = train_memory_mb

    def fit(self, train, grid):
        super().fit(train, grid)
        if not 0.0 <= self.filter_alpha <= 0.5:
            raise InputError(f"dineof filter_alpha must be between 0 and 0.5 (months²), got "
                             f"{self.filter_alpha!r}")
        if int(self.filter_iterations) != self.filter_iterations or self.filter_iterations < 0:
            raise InputError(f"dineof filter_iterations must be a whole number >= 0, got "
                             f"{self.filter_iterations!r}")
        self.background_ = Climatology().fit(train, grid).climatology_
        if self.train_memory_mb is not None and not self.train_memory_mb > 0:
            raise InputError(f"dineof train_memory_mb must be a positive number of MB or None, "
                             f"got {self.train_memory_mb!r}")
        months = train["time"].dt.month.values
        column_mb = 4 * int(grid.ocean.sum()) / 1e6  # one float32 column
        self.train_columns_budget_ = int(self.train_months)
        if self.train_memory_mb is not None:
            self.train_columns_budget_ = min(self.train_columns_budget_,
                                             int(self.train_memory_mb // column_mb))
        # anomalies of the last train months (at least a year, for the level scales),
        # (M, m) with rows = ocean cells of all levels; only these months are read
        last = slice(max(len(months) - max(self.train_columns_budget_, 12), 0), len(months))
        anomalies = (train.isel(time=last).values
                     - self.background_[months[last] - 1])[:, grid.ocean].T
        level_of_row = np.nonzero(grid.ocean)[0]
        self.row_scale_ = np.ones(level_of_row.size)
        if self.standardize:
            level_sd = np.array([np.sqrt(np.nanmean(anomalies[level_of_row == k] ** 2))
                                 if np.isfinite(anomalies[level_of_row == k]).any() else 1.0
                                 for k in range(grid.depth.size)])
            self.row_scale_ = np.maximum(level_sd, 1e-6)[level_of_row]
        self.fixed_, self.fixed_times_ = None, np.zeros(0)
        if self.train_columns_budget_ > 0:
            keep = self.train_columns_budget_
            fixed = anomalies[:, -keep:]
            self.fixed_ = (fixed / self.row_scale_[:, None]).astype(np.float32)
            self.fixed_times_ = month_number(train["time"].values[last][-keep:])
        self.record_ = {}
        return self

    def fitted_params(self) -> dict:
        return {"train_columns": 0 if self.fixed_ is None else int(self.fixed_.shape[1]),
                "train_memory_mb": self.train_memory_mb,
                "train_columns_mb": 0.0 if self.fixed_ is None
                else round(self.fixed_.nbytes / 1e6, 3),
                "last_reconstruction": self.record_}

    def reconstruct(self, obs):
        ocean = self.grid_.ocean
        background = self.background_[obs["time"].dt.month.values - 1].astype(np.float64)
        anomalies = (obs.values - background)[:, ocean].T / self.row_scale_[:, None]
        known = np.isfinite(anomalies)
        times = np.concatenate([month_number(obs["time"].values), self.fixed_times_])
        fixed = self.fixed_
        if fixed is not None and np.isnan(fixed).any():  # gappy train months: columns with gaps
            anomalies = np.hstack([anomalies, fixed])
            known, fixed = np.isfinite(anomalies), None
        filled, self.record_ = dineof(anomalies, known, fixed,
                                      self.max_modes, self.tol, self.max_iter,
                                      np.random.default_rng(self.seed), self.filter_alpha,
                                      int(self.filter_iterations), times)
        filled = filled[:, :obs.sizes["time"]]
        background[:, ocean] += (filled * self.row_scale_[:, None]).T
        return obs.copy(data=np.where(ocean, background, np.nan).astype(np.float32))
