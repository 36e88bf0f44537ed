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
batch's columns have gaps). The truncated SVD is exact (eigh of the N x N
Gram matrix) for up to 256 columns; for longer series it is tracked by block
power iteration, one step per filling iteration, warm-started across
iterations and across k, so each iteration costs O(M N k), not O(M N^2).
"""

from __future__ import annotations

import numpy as np

from reconbench.methods.base import Method
from reconbench.methods.climatology import Climatology
from reconbench.methods.registry import register_method


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


def stack_product(x: np.ndarray, fixed: np.ndarray | None, v: np.ndarray) -> np.ndarray:
    """[x | fixed] @ v for x (M, n), fixed (M, m) or None, v (n + m, k)."""
    n = x.shape[1]
    return x @ v[:n] if fixed is None else x @ v[:n] + fixed @ v[n:]


def refine(x: np.ndarray, fixed: np.ndarray | None, basis: np.ndarray,
           fixed_gram: np.ndarray | None = None) -> np.ndarray:
    """Top-k right singular vectors (N, k) of X = [x | fixed], k = basis.shape[1].

    Exact (eigh of the N x N Gram matrix) up to ``EXACT_MAX_COLUMNS`` columns;
    beyond, one block power step from ``basis``: V = orth(X^T orth(X V)).
    ``fixed_gram`` is fixed^T fixed when the caller has it (it never changes).
    """
    k = basis.shape[1]
    if x.shape[1] + (0 if fixed is None else fixed.shape[1]) <= EXACT_MAX_COLUMNS:
        gram = x.T @ x
        if fixed is not None:
            cross = x.T @ fixed
            fixed_gram = fixed.T @ fixed if fixed_gram is None else fixed_gram
            gram = np.block([[gram, cross], [cross.T, fixed_gram]])
        return np.linalg.eigh(gram)[1][:, -k:]
    q = np.linalg.qr(stack_product(x, fixed, basis))[0]
    z = x.T @ q if fixed is None else np.vstack([x.T @ q, fixed.T @ q])
    return np.linalg.qr(z)[0]


def complete(x: np.ndarray, known: np.ndarray, fixed: np.ndarray | None, basis: np.ndarray,
             tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Iterate rank-k SVD filling of the entries of ``x`` (M, n) that are not ``known``.

    ``x`` holds the current guesses at the unknown entries (updated in place).
    ``fixed`` (M, m) are complete extra columns, or None. ``basis`` (n + m, k) is
    the current guess of the top right singular vectors V_k; each iteration
    refines it (:func:`refine`) and replaces the unknown entries by those of
    X V_k V_k^T, the rank-k truncation. Only the known entries of ``x`` and the
    guesses are read. Returns ``x`` and the refined basis.
    """
    n = x.shape[1]
    missing = ~known
    fixed_gram = None if fixed is None else fixed.T @ fixed
    for _ in range(max_iter):
        basis = refine(x, fixed, basis, fixed_gram)
        new = (stack_product(x, fixed, basis) @ basis[:n].T)[missing]
        change = np.linalg.norm(new - x[missing]) / max(np.linalg.norm(new), 1e-12)
        x[missing] = new
        if change < tol:
            break
    return x, basis


def grow(basis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``basis`` (N, k) with one random direction added, orthonormal (N, k + 1)."""
    extra = rng.standard_normal((basis.shape[0], 1))
    return np.linalg.qr(np.hstack([basis, extra]))[0]


def dineof(values: np.ndarray, known: np.ndarray, fixed=None, max_modes: int = 30,
           tol: float = 1e-3, max_iter: int = 100,
           rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """Complete ``values`` (M, n), trusted where ``known``, by DINEOF.

    Returns the completed matrix (known entries unchanged) and a record:
    ``modes`` (the chosen k), ``cv_errors`` (RMS error on the cross-validation
    entries for k = 1, 2, ...), ``n_cv`` (their number).
    """
    rng = rng or np.random.default_rng(0)
    n_columns = values.shape[1] + (0 if fixed is None else fixed.shape[1])
    k_max = min(max_modes, n_columns - 1, values.shape[0] - 1)
    if k_max < 1:  # a single column: no EOF to learn, the mean (zero anomaly) stands
        return np.where(known, values, 0.0), {"modes": 0, "cv_errors": [], "n_cv": 0}
    cv = cv_mask(known, rng)
    fit_known = known & ~cv
    x = np.where(fit_known, values, 0.0)
    basis = np.zeros((n_columns, 0))
    errors, best, rises = [], (x.copy(), basis), 0
    for k in range(1, k_max + 1):
        x, basis = complete(x, fit_known, fixed, grow(basis, rng), tol, max_iter)
        errors.append(float(np.sqrt(np.mean((x[cv] - values[cv]) ** 2))) if cv.any() else 0.0)
        if errors[-1] <= min(errors):
            best = (x.copy(), basis)
        rises = rises + 1 if k > 1 and errors[-1] > errors[-2] else 0
        if rises == 3 or not cv.any():
            break
    x = np.where(known, values, best[0])  # the cross-validation entries go back in
    x, _ = complete(x, known, fixed, best[1], tol, max_iter)
    return x, {"modes": best[1].shape[1], "cv_errors": [round(e, 6) for e in errors],
               "n_cv": int(cv.sum())}


@register_method("dineof")
class Dineof(Method):
    """DINEOF on the batch of months, optionally with the train split as extra columns.

    Parameters
    ----------
    max_modes : largest number of EOF modes tried.
    train_months : the last ``train_months`` months of the train split are
        appended as fully observed columns; 0 uses the batch alone (the
        classical setting, weak for a short batch: a cell observed in no month
        of the batch keeps the climatology).
    standardize : divide each level's anomalies by its train anomaly standard
        deviation, so that deep, quiet levels weigh as much as the surface.
    tol : relative change of the missing entries that ends the iterations.
    max_iter : iterations per number of modes at most.
    seed : seeds the cross-validation draw.
    """

    def __init__(self, max_modes: int = 30, train_months: int = 120, standardize: bool = True,
                 tol: float = 1e-3, max_iter: int = 40, seed: int = 0):
        self.max_modes = max_modes
        self.train_months = train_months
        self.standardize = standardize
        self.tol = tol
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, train, grid):
        super().fit(train, grid)
        self.background_ = Climatology().fit(train, grid).climatology_
        months = train["time"].dt.month.values
        # anomalies of the last train months (at least a year, for the level scales),
        # (M, m) with rows = ocean cells of all levels
        last = slice(max(len(months) - max(self.train_months, 12), 0), len(months))
        anomalies = (train.values[last] - self.background_[months[last] - 1])[:, grid.ocean].T
        level_of_row = np.nonzero(grid.ocean)[0]
        self.row_scale_ = np.ones(level_of_row.size)
        if self.standardize:
            level_sd = np.array([np.sqrt(np.mean(anomalies[level_of_row == k] ** 2))
                                 if (level_of_row == k).any() else 1.0
                                 for k in range(grid.depth.size)])
            self.row_scale_ = np.maximum(level_sd, 1e-6)[level_of_row]
        self.fixed_ = None
        if self.train_months > 0:
            fixed = anomalies[:, -self.train_months:]
            self.fixed_ = fixed.astype(np.float64) / self.row_scale_[:, None]
        self.record_ = {}
        return self

    def fitted_params(self) -> dict:
        return {"train_columns": 0 if self.fixed_ is None else int(self.fixed_.shape[1]),
                "last_reconstruction": self.record_}

    def reconstruct(self, obs):
        ocean = self.grid_.ocean
        background = self.background_[obs["time"].dt.month.values - 1].astype(np.float64)
        anomalies = (obs.values - background)[:, ocean].T / self.row_scale_[:, None]
        known = np.isfinite(anomalies)
        filled, self.record_ = dineof(anomalies, known, self.fixed_,
                                      self.max_modes, self.tol, self.max_iter,
                                      np.random.default_rng(self.seed))
        background[:, ocean] += (filled * self.row_scale_[:, None]).T
        return obs.copy(data=np.where(ocean, background, np.nan).astype(np.float32))
