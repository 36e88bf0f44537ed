"""The registered methods ``reconmost`` (our best setting) and ``reconmost-paper``.

Both load a trained prior in :meth:`fit` (the ``checkpoint`` parameter; by
default the one shipped for the synthetic ocean at 4°, 16 levels) and check
that it was trained on the grid they are fitted on. ``reconstruct`` normalises
the observations, runs the guided reverse process for every time step of the
batch and every ensemble member at once, and returns the ensemble mean in °C;
the ensemble spread (°C) of the last call is kept as ``spread_``. With two
members or more the method is an ensemble (``uncertainty = "ensemble"``):
``reconstruct_distribution`` returns the members themselves beside their mean.

torch and the modules built on it are imported in :meth:`fit` and :meth:`sample`,
not here: the method registry imports this module to list the methods, and
importing torch (about 2.5 s) would slow the start of every command, and of
every Dask worker, that runs no ReconMOST.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr

from reconbench.errors import InputError
from reconbench.methods.base import Method
from reconbench.methods.registry import make_method, register_method

STARTS = ("noise", "analysis", "oi")
ENSEMBLE_STATISTICS = ("mean", "median")
#: The sampler settings ``dense_params`` may change for the fields where guidance is
#: dense (none of them changes what :meth:`ReconMOST.fit` prepares).
SWITCHABLE = ("guidance", "scale", "soft_mask", "kernel", "obs_error", "clip", "fresh_noise",
              "strength")


@register_method("reconmost")
class ReconMOST(Method):
    """Observation-guided diffusion (ReconMOST) with the settings chosen on validation.

    Departures from the paper, each chosen on the synthetic validation split at
    92.5 % missing (masked MSE, 6 months): the prior learns per-level anomalies
    with the ocean masks and the month's climatology as inputs; the reverse
    process starts (SDEdit) from a cheap 3-D analysis, 40 % of the way through
    the schedule, respaced to 25 steps (so 10 reverse steps are run); soft-mask
    mean shift with s = 4 and, as the paper, no fresh noise after the start;
    x̂₀ clipped at ±5 standard deviations; mean of 10 members. That is 100
    network calls per field (steps run x members), below the 160 of the earlier
    setting (50 steps, 8 members, fresh noise) and below its 1000-step MSE.

    Parameters
    ----------
    checkpoint : a prior file from ``reconbench train``; None: the shipped prior of
        the grid (``checkpoints/synthetic-4deg.pt`` or ``synthetic-2deg.pt``, the
        synthetic ocean at 4° or 2° with 16 levels).
    steps : reverse steps (the 1000 training steps respaced evenly).
    guidance : ``mean-shift`` (the paper's), ``dps`` or ``replace``; see
        :mod:`~reconbench.methods.reconmost.sampling`.
    scale : guidance strength s.
    soft_mask : spread the mean-shift gradient with the paper's 5 x 5 Gaussian.
    fresh_noise : add σ_t z at every reverse step (the paper's ``use_sigma``).
    clip : clip x̂₀ to [-clip, clip] (normalised units); None: no clipping.
    start : ``noise`` (x_T ~ N(0, I)), ``analysis``: SDEdit from a Gaussian
        normalised-convolution analysis of the observations noised to
        ``strength`` of the way through the schedule, or ``oi``: SDEdit from the
        optimal-interpolation analysis of the observations (the diffusion as a
        learned correction of OI).
    strength : fraction of the reverse process run from the analysis, in (0, 1].
    analysis_sigma : the analysis kernel's width in grid cells (lat / lon).
    analysis_sigma_levels : its width across depth levels.
    analysis_shrinkage : how strongly the analysis falls back to the prior mean.
    sampler : ``ddpm`` (the paper's ancestral step, σ²_t = β_t) or ``ddim``.
    eta : DDIM's noise level η in [0, 1] (0: deterministic given the start).
    members : ensemble size; the reconstruction is the ensemble mean.
    seed : seeds the sampler's noise (every call draws the same noise).
    device : ``auto`` (CUDA if available), ``cpu`` or ``cuda``.
    allow_partial : accept a training state (``*.train-state.pt``, training in
        progress; its EMA weights) as ``checkpoint``; refused by default.
    kernel : the soft mask's kernel: ``paper`` (unnormalised, weights sum to 6.17),
        ``normalised`` (weights sum to 1) or ``capped`` (each cell's total pull
        weight at most 1: density-adapted); see :mod:`~.sampling`.
    obs_error : observation-error standard deviation (normalised units: a fraction
        of the level's standard deviation for anomaly priors); set, the guidance
        factor 2 s becomes s / (obs_error² + 1 - ᾱ_t). None: the paper's factor.
    ensemble_stat : ``mean`` or ``median`` of the members, the point reconstruction.
    precision : the network's arithmetic in the mean shift: ``float32`` or ``bfloat16``
        (autocast).
    oi_params : with ``start = "oi"``, the parameters of the ``oi`` method that makes
        the first guess (e.g. the ones ``reconbench tune`` chose); None: its defaults.
    dense_fraction : guidance adapted to the observation density: a field whose
        guidance points cover at least this fraction of the ocean cells is sampled
        with ``dense_params`` replacing the settings above. None: one setting.
    dense_params : the settings (of :data:`SWITCHABLE`) for dense fields, e.g.
        ``{"guidance": "mean-shift", "obs_error": 0.1, "scale": 1.0}``.
    """

    #: the normalisations a prior may have (the first one's shipped prior is
    #: preferred when ``checkpoint`` is None): the sampler's clipping and its
    #: analysis start (shrunk to 0, the climatology) assume anomalies
    normalisations = ("anomaly", "anomaly_std")

    #: Values ``reconbench tune`` tries by default: sampling steps, the start of the
    #: reverse process (and how far into the schedule it starts), guidance scale, members.
    search_space = {"steps": [20, 50], "start": ["analysis", "noise"],
                    "strength": [0.3, 0.4, 0.6], "scale": [2.0, 4.0, 8.0], "members": [4, 8, 16]}

    def __init__(self, checkpoint: str | None = None, steps: int = 25,
                 guidance: str = "mean-shift", scale: float = 4.0, soft_mask: bool = True,
                 fresh_noise: bool = False, clip: float | None = 5.0, start: str = "analysis",
                 strength: float = 0.4, analysis_sigma: float = 0.6,
                 analysis_sigma_levels: float = 4.0, analysis_shrinkage: float = 5e-4,
                 sampler: str = "ddpm", eta: float = 0.0, members: int = 10, seed: int = 0,
                 device: str = "auto", kernel: str = "paper", obs_error: float | None = None,
                 ensemble_stat: str = "mean", precision: str = "float32",
                 allow_partial: bool = False, oi_params: dict | None = None,
                 dense_fraction: float | None = None, dense_params: dict | None = None):
        self.checkpoint = checkpoint
        self.steps = steps
        self.guidance = guidance
        self.scale = scale
        self.soft_mask = soft_mask
        self.fresh_noise = fresh_noise
        self.clip = clip
        self.start = start
        self.strength = strength
        self.analysis_sigma = analysis_sigma
        self.analysis_sigma_levels = analysis_sigma_levels
        self.analysis_shrinkage = analysis_shrinkage
        self.sampler = sampler
        self.eta = eta
        self.members = members
        self.seed = seed
        self.device = device
        self.allow_partial = allow_partial
        self.kernel = kernel
        self.obs_error = obs_error
        self.ensemble_stat = ensemble_stat
        self.precision = precision
        self.oi_params = oi_params
        self.dense_fraction = dense_fraction
        self.dense_params = dense_params

    def fit(self, train, grid):
        from reconbench.methods.reconmost.checkpoint import load_prior, shipped_prior
        from reconbench.methods.reconmost.diffusion import linear_schedule, respace
        from reconbench.methods.reconmost.train import pick_device

        super().fit(train, grid)
        if self.start not in STARTS:
            raise InputError(f"start must be one of {STARTS}, got {self.start!r}")
        if int(self.members) < 1:
            raise InputError(f"members must be >= 1, got {self.members!r}")
        if self.ensemble_stat not in ENSEMBLE_STATISTICS:
            raise InputError(f"ensemble_stat must be one of {ENSEMBLE_STATISTICS}, "
                             f"got {self.ensemble_stat!r}")
        if self.oi_params and self.start != "oi":
            raise InputError(f"oi_params is set but start is {self.start!r}; they make the "
                             f"first guess of start = 'oi' only")
        self._check_density_switch()
        self.device_ = pick_device(self.device)
        self.first_guess_ = (make_method("oi", **dict(self.oi_params or {})).fit(train, grid)
                             if self.start == "oi" else None)
        path = (Path(self.checkpoint) if self.checkpoint
                else shipped_prior(grid, self.normalisations))
        self.model_, self.normaliser_, self.metadata_ = load_prior(
            path, grid, self.device_, normalisations=self.normalisations,
            allow_partial=bool(self.allow_partial))
        self.schedule_ = respace(linear_schedule(**_schedule_args(self.metadata_)),
                                 int(self.steps))
        self.checkpoint_path_ = str(path)
        return self

    def _check_density_switch(self):
        """One line for a ``dense_fraction`` / ``dense_params`` pair that cannot work."""
        if self.dense_fraction is None:
            if self.dense_params:
                raise InputError("dense_params is set but dense_fraction is None; set "
                                 "dense_fraction, the guidance fraction from which they apply")
            return
        if not 0.0 < float(self.dense_fraction) <= 1.0:
            raise InputError(f"dense_fraction must be in (0, 1], got {self.dense_fraction!r}")
        unknown = sorted(set(self.dense_params or {}) - set(SWITCHABLE))
        if unknown or not self.dense_params:
            raise InputError(f"dense_params must be a non-empty table of "
                             f"{', '.join(SWITCHABLE)}; got {self.dense_params!r}")

    def fitted_params(self) -> dict:
        training = self.metadata_["training"]
        return {"checkpoint": self.checkpoint_path_,
                "normalisation": self.metadata_["normalisation"],
                "prior_steps": training["steps"], "prior_seed": training["run"]["seed"],
                "prior_train_seconds": training["seconds"],
                "prior_partial": bool(training.get("partial", False)),
                "prior_parameters": training["parameters"],
                "sampling_timesteps": len(self.schedule_), "device": str(self.device_),
                **({"first_guess_oi": self.first_guess_.fitted_params()}
                   if self.first_guess_ is not None else {})}

    def sample(self, obs: xr.DataArray) -> np.ndarray:
        """Ensemble of reconstructions (members, time, levels, lat, lon) in °C.

        With ``dense_fraction`` set, the time steps whose guidance points cover at
        least that fraction of the ocean are sampled with ``dense_params``."""
        ocean = self.normaliser_.ocean
        seen = np.isfinite(obs.values) & ocean
        fraction = seen.sum(axis=(1, 2, 3)) / max(int(ocean.sum()), 1)
        dense = (fraction >= float(self.dense_fraction) if self.dense_fraction is not None
                 else np.zeros(fraction.shape, dtype=bool))
        out = np.empty((int(self.members), *obs.shape), dtype=np.float32)
        for is_dense in (False, True):
            times = np.flatnonzero(dense == is_dense)
            if times.size:
                settings = {**self.get_params(), **((self.dense_params or {}) if is_dense else {})}
                out[:, times] = self._sample_with(obs.isel(time=times), settings)
        return out

    def _sample_with(self, obs: xr.DataArray, p: dict) -> np.ndarray:
        """:meth:`sample` for one setting ``p`` (this method's parameters, some replaced)."""
        import torch

        from reconbench.methods.reconmost.sampling import guided_sample, normalised_convolution

        months = obs["time"].dt.month.values
        values = obs.values
        norm = self.normaliser_
        mask = (np.isfinite(values) & norm.ocean).astype(np.float32)
        y = norm.encode(values, months) * mask
        n = int(self.members)
        dev = self.device_

        def batch(a: np.ndarray) -> torch.Tensor:  # (time, ...) -> (members * time, ...)
            return torch.from_numpy(np.concatenate([a] * n)).to(dev)

        start = None
        if self.start == "analysis":
            start = batch(normalised_convolution(y, mask, norm.ocean, self.analysis_sigma,
                                                 self.analysis_sigma_levels,
                                                 self.analysis_shrinkage))
        elif self.start == "oi":
            start = batch(norm.encode(self.first_guess_.reconstruct(obs).values, months))
        cond = norm.cond(months)
        x = guided_sample(
            self.model_, self.schedule_, batch(y), batch(mask),
            cond=None if cond is None else batch(cond), guidance=p["guidance"],
            scale=float(p["scale"]), fresh_noise=bool(p["fresh_noise"]), clip=p["clip"],
            soft_mask=bool(p["soft_mask"]), start=start,
            strength=float(p["strength"]) if start is not None else 1.0,
            sampler=self.sampler, eta=float(self.eta), kernel=p["kernel"],
            obs_error=None if p["obs_error"] is None else float(p["obs_error"]),
            precision=self.precision,
            generator=torch.Generator().manual_seed(int(self.seed)))
        x = x.cpu().numpy().reshape(n, *values.shape)
        return np.stack([norm.decode(member, months) for member in x])

    @property
    def uncertainty(self) -> str | None:
        """``"ensemble"`` with two members or more; one sample states no uncertainty."""
        return "ensemble" if int(self.members) >= 2 else None

    def reconstruct(self, obs: xr.DataArray) -> xr.DataArray:
        return self.reconstruct_distribution(obs)["mean"]

    def reconstruct_distribution(self, obs: xr.DataArray) -> xr.Dataset:
        """``mean`` (time, depth, lat, lon) °C, the reconstruction (the members' mean or,
        with ``ensemble_stat = "median"``, their median), and ``members``
        (member, time, depth, lat, lon) °C."""
        start = time.perf_counter()
        ensemble = self.sample(obs)
        self.seconds_ = time.perf_counter() - start
        self.spread_ = obs.copy(data=ensemble.std(axis=0))
        members = xr.DataArray(ensemble.astype(np.float32), dims=("member", *obs.dims),
                               coords=obs.coords, attrs={"units": "degC",
                                                         "long_name": "ensemble member"})
        point = np.median if self.ensemble_stat == "median" else np.mean
        mean = obs.copy(data=point(ensemble, axis=0))
        out = xr.Dataset({"mean": mean, "members": members})
        return out if self.uncertainty else out[["mean"]]


@register_method("reconmost-paper")
class ReconMOSTPaper(ReconMOST):
    """ReconMOST as published: 1000 steps, mean shift s = 4, no fresh noise, paper map.

    Loads the grid's shipped ``checkpoints/synthetic-*deg-paper.pt`` by default: the
    same small network trained on the paper's fixed normalisation without conditioning.
    """

    normalisations = ("paper",)

    search_space = {}  # kept exactly as published: nothing to tune

    def __init__(self, checkpoint: str | None = None, steps: int = 1000,
                 guidance: str = "mean-shift", scale: float = 4.0, soft_mask: bool = False,
                 fresh_noise: bool = False, clip: float | None = 1.0, start: str = "noise",
                 strength: float = 1.0, analysis_sigma: float = 2.0,
                 analysis_sigma_levels: float = 1.0, analysis_shrinkage: float = 0.02,
                 sampler: str = "ddpm", eta: float = 0.0, members: int = 1, seed: int = 0,
                 device: str = "auto", kernel: str = "paper", obs_error: float | None = None,
                 ensemble_stat: str = "mean", precision: str = "float32",
                 allow_partial: bool = False, oi_params: dict | None = None,
                 dense_fraction: float | None = None, dense_params: dict | None = None):
        super().__init__(checkpoint, steps, guidance, scale, soft_mask, fresh_noise, clip, start,
                         strength, analysis_sigma, analysis_sigma_levels, analysis_shrinkage,
                         sampler, eta, members, seed, device, kernel, obs_error, ensemble_stat,
                         precision, allow_partial, oi_params, dense_fraction, dense_params)


def _schedule_args(meta: dict) -> dict:
    """linear_schedule() arguments from a prior's metadata."""
    s = meta["schedule"]
    return {"steps": s["steps"], "beta_start": s["beta_start"], "beta_end": s["beta_end"]}
