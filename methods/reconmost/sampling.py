"""Observation-guided reverse diffusion: ReconMOST's mean shift and its variants.

All functions work on normalised fields (batch, levels, H, W). ``y`` holds the
normalised observations (any value off the guidance points), ``mask`` is 1 at
the guidance points and 0 elsewhere (same shape, float). ``model(x, t, cond)``
predicts ε; ``schedule`` is a :class:`~.diffusion.Schedule`, possibly respaced.

Guidance kinds (``guidance=``):

- ``"mean-shift"`` (the paper): x̂₀ from ε̂, optionally clipped to [-clip, clip];
  g = s · 2 · M ⊙ (y - x̂₀), optionally convolved per channel with the
  unnormalised 5 x 5 Gaussian (σ = 1, peak 1) of the paper's "soft mask";
  μ' = μ_t(x̂₀, x_t) + σ²_t g; x_{t-1} = μ' (+ σ_t z with fresh noise).
- ``"dps"``: diffusion posterior sampling (Chung et al. 2023): the unguided
  step, then x_{t-1} -= s ∇_{x_t} ‖M ⊙ (y - x̂₀(x_t))‖ per sample, the gradient
  taken through the network.
- ``"replace"`` (RePaint-style, without resampling): the unguided step, then
  the guidance points of x_{t-1} are replaced by the observations noised to
  level t-1 (by y itself after the last step).
- ``"mean-shift-grad"`` (the authors' true-gradient option): the mean shift
  with the gradient of -‖M ⊙ (y - x̂₀)‖² taken with respect to x_t through the
  network instead of with respect to x̂₀: g = s · 2 · Jᵀ r, J = ∂x̂₀/∂x_t, r the
  (soft-masked) residual M ⊙ (y - x̂₀) of the unclipped x̂₀.

Options beside the paper's mean shift (all off by default):

- ``kernel`` (with ``soft_mask``): ``"paper"``, the unnormalised 5 x 5 Gaussian
  (weights sum to 6.17, so a cell among dense guidance points is pulled up to
  6 times its residual); ``"normalised"``, the same kernel divided by its sum
  (weights sum to 1); ``"capped"``, K * r / max(K * M, 1): the paper's kernel
  where guidance is sparse (a cell's total pull weight Σ K M below 1) and the
  kernel-weighted mean residual where it is dense (total weight exactly 1).
- ``obs_error`` σ_o (normalised units): the mean-shift factor 2 s per original
  step becomes s / (σ_o² + r²_τ), r²_τ = 1 - ᾱ_τ, i.e. the pull is
  σ²_t s ∇_{x̂₀} log N(y; x̂₀, σ_o² + r²_t) at the guidance points: an
  observation-error variance plus the error variance of x̂₀ for unit-variance
  data at noise level τ (Song et al. 2023, ΠGDM). Early, noisy steps pull
  weakly; at the last step with σ_o = 0 and s = 1 the guidance points are set to
  the observations. The paper's factor is the case σ_o² + r² = 1/2.

With ``s = 0`` every kind is the plain ancestral sampler. A respaced schedule
gives the accelerated sampler: the same formulas with the respaced β, except
that the mean-shift gain σ²_t · 2s becomes 1 - Π (1 - 2 s β_τ) over the original
steps τ the step merges: the pull on the residual that those steps would have
applied one after the other. It equals σ²_t · 2s for the full schedule and
stays below 1 for long strides, where σ²_t · 2s would overshoot the
observations and diverge.

Samplers (``sampler=``): ``"ddpm"``, the paper's ancestral step with the
fixed-large variance σ²_t = β_t; ``"ddim"`` (Song et al. 2021), which moves
along the predicted noise instead of drawing most of it afresh,
x_{t-1} = √ᾱ_{t-1} x̂₀ + √(1 - ᾱ_{t-1} - σ²) ε̂ + σ z with σ = η √β̃_t, and
takes the same mean-shift pull (gain · M ⊙ (y - x̂₀)). With few respaced steps
the ancestral step's large fresh noise dominates; DDIM's does not.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from tqdm import tqdm

from reconbench.errors import InputError
from reconbench.methods.reconmost.diffusion import (
    Schedule,
    posterior_mean,
    predict_x0,
    q_sample,
    reverse_variance,
)

GUIDANCE_KINDS = ("mean-shift", "dps", "replace", "mean-shift-grad")
KERNELS = ("paper", "normalised", "capped")
SAMPLERS = ("ddpm", "ddim")


def soft_mask_kernel(normalised: bool = False) -> torch.Tensor:
    """(5, 5) Gaussian exp(-(i² + j²) / 2), i, j in -2..2 (σ = 1): peak 1 (the paper's,
    weights sum to 6.17) or, ``normalised``, divided by its sum (weights sum to 1)."""
    r = torch.arange(-2, 3, dtype=torch.float64)
    kernel = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 2.0)
    return kernel / kernel.sum() if normalised else kernel


def guidance_gain(schedule: Schedule, scale: float,
                  obs_error: float | None = None) -> np.ndarray:
    """(len(schedule),) mean-shift gain 1 - Π (1 - f_τ) over each step's merged
    original steps τ, f_τ = 2 s β_τ (the paper's; the gain is then σ²_t · 2 s on the full
    schedule) or, with ``obs_error`` σ_o, f_τ = s β_τ / (σ_o² + 1 - ᾱ_τ); f clipped to
    [0, 1] so the gain never passes the residual."""
    betas = schedule.base_betas
    if obs_error is None:
        factors = 2.0 * scale * betas
    else:
        factors = scale * betas / (float(obs_error) ** 2 + 1.0 - np.cumprod(1.0 - betas))
    return 1.0 - schedule.merged_products(np.clip(1.0 - factors, 0.0, 1.0))


def smoothed_residual(x0_hat: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                      soft_mask: bool = False, kernel: str = "paper") -> torch.Tensor:
    """M ⊙ (y - x̂₀), per channel spread with the soft-mask ``kernel`` (one of
    :data:`KERNELS`, see the module docstring) if ``soft_mask``; g = s · 2 · this is the
    paper's guidance gradient. All tensors (batch, levels, H, W)."""
    g = mask * (y - x0_hat)
    if not soft_mask:
        return g
    if kernel not in KERNELS:
        raise InputError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    channels = g.shape[1]
    weights = soft_mask_kernel(kernel == "normalised").to(g)[None, None]
    weights = weights.expand(channels, 1, 5, 5)
    spread = F.conv2d(g, weights, padding=2, groups=channels)
    if kernel == "capped":
        total = F.conv2d(mask.to(g), weights, padding=2, groups=channels)
        spread = spread / total.clamp(min=1.0)
    return spread


def mean_shift_step(schedule: Schedule, x_t: torch.Tensor, i: int, eps: torch.Tensor,
                    y: torch.Tensor, mask: torch.Tensor, scale: float, *,
                    noise: torch.Tensor | None = None, clip: float | None = 1.0,
                    soft_mask: bool = False, kernel: str = "paper",
                    obs_error: float | None = None,
                    pull: torch.Tensor | None = None) -> torch.Tensor:
    """One guided reverse step x_t -> x_{t-1} at schedule index ``i`` (the paper's:
    μ' = μ_t + σ²_t g, with the gain of :func:`guidance_gain` on respaced schedules).

    ``noise`` is the fresh noise z (None: the paper's deterministic ``use_sigma``
    off); it is never added at the last step (i = 0). ``pull``: the direction the
    gain multiplies, instead of the (soft-masked) residual of x̂₀ (``mean-shift-grad``
    passes Jᵀ r).
    """
    t = torch.full((x_t.shape[0],), i, dtype=torch.long)
    x0_hat = predict_x0(schedule, x_t, t, eps)
    if clip is not None:
        x0_hat = x0_hat.clamp(-clip, clip)
    mu = posterior_mean(schedule, x0_hat, x_t, t)
    if scale != 0:
        gain = float(guidance_gain(schedule, scale, obs_error)[i])
        if pull is None:
            pull = smoothed_residual(x0_hat, y, mask, soft_mask, kernel)
        mu = mu + gain * pull
    if noise is None or i == 0:
        return mu
    return mu + reverse_variance(schedule, t, x_t).sqrt() * noise


def ddim_step(schedule: Schedule, x_t: torch.Tensor, i: int, eps: torch.Tensor,
              y: torch.Tensor, mask: torch.Tensor, scale: float, *,
              noise: torch.Tensor | None = None, clip: float | None = 1.0,
              soft_mask: bool = False, kernel: str = "paper", obs_error: float | None = None,
              pull: torch.Tensor | None = None, eta: float = 0.0) -> torch.Tensor:
    """One guided DDIM step x_t -> x_{t-1} at schedule index ``i``:
    √ᾱ_{t-1} x̂₀ + √(1 - ᾱ_{t-1} - σ²) ε̂ + gain · M ⊙ (y - x̂₀) + σ z, σ = η √β̃_t.

    ε̂ is recomputed from the clipped x̂₀ so both terms describe the same x_t;
    ``noise`` z is ignored when η = 0 and never added at the last step (i = 0);
    ``kernel``, ``obs_error`` and ``pull`` as in :func:`mean_shift_step`.
    """
    t = torch.full((x_t.shape[0],), i, dtype=torch.long)
    x0_hat = predict_x0(schedule, x_t, t, eps)
    if clip is not None:
        x0_hat = x0_hat.clamp(-clip, clip)
    a, a_prev = schedule.alphas_cumprod[i], schedule.alphas_cumprod_prev[i]
    eps = (x_t - np.sqrt(a) * x0_hat) / np.sqrt(1.0 - a)
    sigma = eta * float(np.sqrt(schedule.posterior_variance[i]))
    x_prev = np.sqrt(a_prev) * x0_hat + np.sqrt(max(1.0 - a_prev - sigma ** 2, 0.0)) * eps
    if scale != 0:
        gain = float(guidance_gain(schedule, scale, obs_error)[i])
        if pull is None:
            pull = smoothed_residual(x0_hat, y, mask, soft_mask, kernel)
        x_prev = x_prev + gain * pull
    if noise is None or i == 0 or sigma == 0:
        return x_prev
    return x_prev + sigma * noise


PRECISIONS = ("float32", "bfloat16")


def _model_eps(model, schedule: Schedule, x: torch.Tensor, i: int, cond,
               precision: str = "float32") -> torch.Tensor:
    """ε̂ at schedule index ``i`` (the network sees the original timestep); with
    ``precision="bfloat16"`` the network runs under bfloat16 autocast and ε̂ comes back
    in x's dtype."""
    t = torch.full((x.shape[0],), int(schedule.timesteps[i]), dtype=torch.long, device=x.device)
    if precision == "float32":
        return model(x, t, cond)
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
        return model(x, t, cond).to(x.dtype)


def sdedit_start(schedule: Schedule, x0: torch.Tensor, i: int,
                 noise: torch.Tensor) -> torch.Tensor:
    """x at schedule index ``i`` from a first guess ``x0`` (SDEdit): q(x_i | x0)."""
    return q_sample(schedule, x0, torch.full((x0.shape[0],), i, dtype=torch.long), noise)


def guided_sample(model, schedule: Schedule, y: torch.Tensor, mask: torch.Tensor, *,
                  cond: torch.Tensor | None = None, guidance: str = "mean-shift",
                  scale: float = 4.0, fresh_noise: bool = False, clip: float | None = 1.0,
                  soft_mask: bool = False, start: torch.Tensor | None = None,
                  strength: float = 1.0, sampler: str = "ddpm", eta: float = 0.0,
                  kernel: str = "paper", obs_error: float | None = None,
                  precision: str = "float32", generator: torch.Generator | None = None,
                  progress: bool = False) -> torch.Tensor:
    """Run the reverse process; returns x₀ (batch, levels, H, W).

    ``start``: a first guess x₀ (normalised). With ``strength`` < 1 the process
    starts from it noised to schedule index round(strength · len) - 1 (SDEdit);
    otherwise from pure noise. ``fresh_noise`` adds σ_t z at every step but the
    last (always on for ``dps`` and ``replace``, which are stochastic samplers);
    with ``sampler="ddim"`` it is scaled by η (``eta``). ``kernel`` and ``obs_error``
    shape the mean-shift pull (see the module docstring). ``precision``: the network's
    arithmetic for ``mean-shift`` (``float32`` or ``bfloat16`` autocast).
    Deterministic for a given ``generator`` state.
    """
    if guidance not in GUIDANCE_KINDS:
        raise InputError(f"guidance must be one of {GUIDANCE_KINDS}, got {guidance!r}")
    if sampler not in SAMPLERS:
        raise InputError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if sampler == "ddim" and not 0.0 <= eta <= 1.0:
        raise InputError(f"eta must be in [0, 1], got {eta!r}")
    if kernel not in KERNELS:
        raise InputError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if obs_error is not None and not obs_error >= 0.0:
        raise InputError(f"obs_error must be >= 0 or None, got {obs_error!r}")
    step = mean_shift_step if sampler == "ddpm" else partial(ddim_step, eta=eta)
    if not 0.0 < strength <= 1.0:
        raise InputError(f"strength must be in (0, 1], got {strength!r}")
    device = y.device

    def randn() -> torch.Tensor:
        return torch.randn(y.shape, generator=generator, dtype=y.dtype).to(device)

    first = len(schedule) - 1
    x = randn()
    if start is not None and strength < 1.0:
        first = max(int(round(strength * len(schedule))) - 1, 0)
        x = sdedit_start(schedule, start, first, x)
    for i in tqdm(range(first, -1, -1), disable=not progress, desc="sampling", leave=False):
        if guidance == "mean-shift":
            with torch.inference_mode():
                eps = _model_eps(model, schedule, x, i, cond, precision)
            noise = randn() if fresh_noise else None
            x = step(schedule, x, i, eps, y, mask, scale, noise=noise, clip=clip,
                     soft_mask=soft_mask, kernel=kernel, obs_error=obs_error)
        elif guidance == "mean-shift-grad":
            eps, pull = true_gradient_pull(model, schedule, x, i, y, mask, cond,
                                           soft_mask, kernel)
            noise = randn() if fresh_noise else None
            x = step(schedule, x, i, eps, y, mask, scale, noise=noise, clip=clip,
                     obs_error=obs_error, pull=pull)
        elif guidance == "dps":
            x = _dps_step(model, schedule, x, i, y, mask, scale, cond, randn(), clip, step)
        else:
            with torch.no_grad():
                eps = _model_eps(model, schedule, x, i, cond)
            x = step(schedule, x, i, eps, y, mask, 0.0, noise=randn(), clip=clip)
            if scale > 0:
                known = (y if i == 0 else
                         sdedit_start(schedule, y, i - 1, randn()))
                x = mask * known + (1.0 - mask) * x
    return x


def true_gradient_pull(model, schedule: Schedule, x_t: torch.Tensor, i: int,
                       y: torch.Tensor, mask: torch.Tensor, cond=None, soft_mask: bool = False,
                       kernel: str = "paper") -> tuple[torch.Tensor, torch.Tensor]:
    """(ε̂, Jᵀ r) at schedule index ``i``: J = ∂x̂₀/∂x_t through the network and r the
    (soft-masked) residual M ⊙ (y - x̂₀) of the unclipped x̂₀, a constant in the product.

    Without the soft mask Jᵀ r = -½ ∇_{x_t} ‖M ⊙ (y - x̂₀(x_t))‖², the true gradient
    of the authors' option; the mean-shift gain (2 s σ²_t) turns it into their shift.
    """
    with torch.enable_grad():
        x_in = x_t.detach().requires_grad_(True)
        eps = _model_eps(model, schedule, x_in, i, cond)
        x0_hat = predict_x0(schedule, x_in, torch.full((x_t.shape[0],), i, dtype=torch.long),
                            eps)
        residual = smoothed_residual(x0_hat.detach(), y, mask, soft_mask, kernel)
        (pull,) = torch.autograd.grad(x0_hat, x_in, grad_outputs=residual)
    return eps.detach(), pull


def _dps_step(model, schedule: Schedule, x_t: torch.Tensor, i: int, y, mask, scale: float,
              cond, noise: torch.Tensor, clip: float | None, step=mean_shift_step
              ) -> torch.Tensor:
    """The unguided ``step`` minus s ∇_{x_t} ‖M ⊙ (y - x̂₀(x_t))‖ (per sample)."""
    with torch.enable_grad():
        x_in = x_t.detach().requires_grad_(True)
        eps = _model_eps(model, schedule, x_in, i, cond)
        x0_hat = predict_x0(schedule, x_in, torch.full((x_t.shape[0],), i, dtype=torch.long),
                            eps)
        norms = (mask * (y - x0_hat)).flatten(1).norm(dim=1)
        (grad,) = torch.autograd.grad(norms.sum(), x_in)
    x_prev = step(schedule, x_t, i, eps.detach(), y, mask, 0.0, noise=noise, clip=clip)
    return x_prev - scale * grad


def normalised_convolution(y: np.ndarray, mask: np.ndarray, ocean: np.ndarray,
                           sigma_cells: float, sigma_levels: float,
                           shrinkage: float) -> np.ndarray:
    """A cheap analysis: Gaussian-weighted mean of the observations, shrunk to 0.

    ``y``, ``mask`` (batch, levels, H, W) and ``ocean`` (levels, H, W); returns
    (G * (M y)) / (G * M + shrinkage) over the ocean (0 elsewhere), where G is a
    Gaussian of ``sigma_cells`` in latitude and longitude (periodic in
    longitude) and ``sigma_levels`` across levels. With zero-mean anomalies
    (``anomaly`` normalisation) the shrinkage pulls sparse areas to climatology.
    """
    ocean = np.broadcast_to(ocean, y.shape)
    weights = (mask * ocean).astype(np.float64)
    sigma = (0.0, sigma_levels, sigma_cells, sigma_cells)
    modes = ("constant", "nearest", "constant", "wrap")
    num = ndimage.gaussian_filter(np.where(weights > 0, y, 0.0) * weights, sigma, mode=modes)
    den = ndimage.gaussian_filter(weights, sigma, mode=modes)
    return np.where(ocean, num / (den + shrinkage), 0.0).astype(np.float32)
