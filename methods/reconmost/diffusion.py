"""The DDPM of ReconMOST as small pure functions over a :class:`Schedule`.

Notation (Ho et al. 2020), ``t`` in 0 .. T-1 indexing the schedule's arrays:

- β_t the noise variances, α_t = 1 - β_t, ᾱ_t = Π_{s<=t} α_s;
- forward: x_t = √ᾱ_t x₀ + √(1 - ᾱ_t) ε;
- x̂₀ = (x_t - √(1 - ᾱ_t) ε̂) / √ᾱ_t;
- posterior q(x_{t-1} | x_t, x₀) = N(c₀_t x₀ + c_t x_t, β̃_t) with
  c₀_t = β_t √ᾱ_{t-1} / (1 - ᾱ_t), c_t = (1 - ᾱ_{t-1}) √α_t / (1 - ᾱ_t),
  β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t) (ᾱ_{-1} = 1);
- reverse variance: ReconMOST fixes σ²_t = β_t ("fixed large").

A *respaced* schedule (improved-diffusion's respacing) keeps a subset of the
timesteps with the same ᾱ and recomputes β_t = 1 - ᾱ_t / ᾱ_{t_prev}; its
``timesteps`` maps each of its indices to the original timestep the network
was trained on, and ``base_betas`` keeps the original β.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reconbench.errors import InputError


@dataclass(frozen=True)
class Schedule:
    """A noise schedule: float64 arrays of length ``len(self)``.

    ``timesteps`` are the original (training) timesteps the network sees and
    ``base_betas`` the β of the original schedule.
    """

    betas: np.ndarray
    timesteps: np.ndarray
    base_betas: np.ndarray

    def __len__(self) -> int:
        return self.betas.size

    @property
    def alphas_cumprod(self) -> np.ndarray:
        """ᾱ_t."""
        return np.cumprod(1.0 - self.betas)

    @property
    def alphas_cumprod_prev(self) -> np.ndarray:
        """ᾱ_{t-1}, with ᾱ_{-1} = 1."""
        return np.append(1.0, self.alphas_cumprod[:-1])

    @property
    def posterior_coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """(c₀_t, c_t) of the posterior mean c₀_t x₀ + c_t x_t."""
        a, a_prev = self.alphas_cumprod, self.alphas_cumprod_prev
        return (self.betas * np.sqrt(a_prev) / (1.0 - a),
                (1.0 - a_prev) * np.sqrt(1.0 - self.betas) / (1.0 - a))

    @property
    def posterior_variance(self) -> np.ndarray:
        """β̃_t, the variance of q(x_{t-1} | x_t, x₀)."""
        return self.betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)

    @property
    def reverse_variance(self) -> np.ndarray:
        """σ²_t = β_t, ReconMOST's fixed-large reverse variance."""
        return self.betas

    def merged_products(self, factors: np.ndarray) -> np.ndarray:
        """Π of ``factors`` (one per original timestep) over the original steps that
        each step of this schedule merges: (timesteps[i-1], timesteps[i]]."""
        starts = np.append(0, self.timesteps[:-1] + 1)
        return np.array([np.prod(factors[a:b + 1])
                         for a, b in zip(starts, self.timesteps, strict=True)])

    def to_dict(self) -> dict:
        """A checkpoint-safe description of the original schedule."""
        return {"kind": "linear", "steps": int(self.base_betas.size),
                "beta_start": float(self.base_betas[0]), "beta_end": float(self.base_betas[-1])}


def linear_schedule(steps: int = 1000, beta_start: float = 1e-4,
                    beta_end: float = 0.02) -> Schedule:
    """The linear β schedule of DDPM and ReconMOST (T = 1000, 1e-4 .. 0.02)."""
    betas = np.linspace(beta_start, beta_end, steps, dtype=np.float64)
    return Schedule(betas, np.arange(steps), betas)


def respace(schedule: Schedule, n_steps: int) -> Schedule:
    """Keep ``n_steps`` evenly spaced timesteps of ``schedule`` (the last always kept).

    The kept steps have the original ᾱ, so a network trained on ``schedule``
    is used unchanged; n_steps = len(schedule) returns an equal schedule.
    """
    if not 1 <= n_steps <= len(schedule):
        raise InputError(f"sampling steps must be in 1 .. {len(schedule)}, got {n_steps}")
    keep = np.unique(np.round(np.linspace(0, len(schedule) - 1, n_steps)).astype(int))
    a = schedule.alphas_cumprod[keep]
    betas = 1.0 - a / np.append(1.0, a[:-1])
    return Schedule(betas, schedule.timesteps[keep], schedule.base_betas)


def _at(values: np.ndarray, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] as a (batch, 1, 1, 1) tensor of ``like``'s dtype and device."""
    out = torch.as_tensor(values, dtype=torch.float64)[t.cpu()]
    return out.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(schedule: Schedule, x0: torch.Tensor, t: torch.Tensor,
             noise: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t x₀ + √(1 - ᾱ_t) ε; ``t`` (batch,) schedule indices."""
    a = _at(schedule.alphas_cumprod, t, x0)
    return a.sqrt() * x0 + (1.0 - a).sqrt() * noise


def predict_x0(schedule: Schedule, x_t: torch.Tensor, t: torch.Tensor,
               eps: torch.Tensor) -> torch.Tensor:
    """x̂₀ = (x_t - √(1 - ᾱ_t) ε̂) / √ᾱ_t."""
    a = _at(schedule.alphas_cumprod, t, x_t)
    return (x_t - (1.0 - a).sqrt() * eps) / a.sqrt()


def posterior_mean(schedule: Schedule, x0: torch.Tensor, x_t: torch.Tensor,
                   t: torch.Tensor) -> torch.Tensor:
    """μ_t = c₀_t x₀ + c_t x_t, the mean of q(x_{t-1} | x_t, x₀)."""
    c0, ct = schedule.posterior_coefficients
    return _at(c0, t, x_t) * x0 + _at(ct, t, x_t) * x_t


def reverse_variance(schedule: Schedule, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """σ²_t = β_t as (batch, 1, 1, 1)."""
    return _at(schedule.reverse_variance, t, like)


def training_loss(model, schedule: Schedule, x0: torch.Tensor, t: torch.Tensor,
                  noise: torch.Tensor, cond: torch.Tensor | None = None,
                  known: torch.Tensor | None = None) -> torch.Tensor:
    """The ε-prediction MSE (a scalar): the mean over every element of the batch, or
    with ``known`` (shaped like ``x0``, True / 1 where x0 is known, False / 0 at the
    gaps of gappy training data) the mean over the known elements only."""
    eps = model(q_sample(schedule, x0, t, noise), torch.as_tensor(schedule.timesteps)[t.cpu()]
                .to(x0.device), cond)
    if known is None:
        return torch.mean((eps - noise) ** 2)
    known = known.to(eps.dtype)
    return torch.sum(known * (eps - noise) ** 2) / torch.clamp(torch.sum(known), min=1.0)
