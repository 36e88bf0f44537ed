"""The denoising network: an improved-diffusion style UNet over depth-as-channels fields.

A field (batch, levels, lat, lon) is a 2-D image whose channels are the depth
levels. The network maps a noisy field x_t, optional conditioning channels and
the timestep t to the predicted noise ε (same shape as x_t):

- a sinusoidal timestep embedding and an MLP give ``emb`` (batch, 4 C);
- every residual block normalises with GroupNorm(32) and applies ``emb`` as a
  scale and a shift ("scale-shift norm"): h = norm(h) (1 + scale) + shift;
- the resolution is halved ``len(channel_mult) - 1`` times by strided
  convolutions; multi-head self-attention (``num_heads`` heads) is applied at the
  downsampling factors in ``attention_resolutions`` and always in the middle block;
- odd sizes are padded (zeros, bottom and right) before each downsampling and
  the upsampled maps are cropped to the size of the matching skip connection,
  so any H x W round-trips (173 x 360 included);
- the last convolution of each residual block and the output convolution start
  at zero, as in improved-diffusion, so the untrained network predicts ε = 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of :class:`UNet` (stored in checkpoints as a plain dict).

    ``in_channels`` counts the field's levels plus the conditioning channels;
    ``out_channels`` is the number of levels. ``attention_resolutions`` lists
    downsampling factors (1, 2, 4, ...) at which blocks get self-attention.
    """

    in_channels: int
    out_channels: int
    model_channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 2, 2, 4, 4)
    num_res_blocks: int = 3
    attention_resolutions: tuple[int, ...] = ()
    num_heads: int = 4
    dropout: float = 0.0

    def to_dict(self) -> dict:
        """JSON- and ``weights_only``-safe dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> UNetConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups (fewer when ``channels`` is not a multiple of 32)."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


def zero_module(module: nn.Module) -> nn.Module:
    """Set every parameter of ``module`` to zero and return it."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (batch, dim) of integer or real timesteps ``t`` (batch,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a scale-shift timestep modulation between them."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int, dropout: float):
        super().__init__()
        self.in_layers = nn.Sequential(group_norm(channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))
        self.out_norm = group_norm(out_channels)
        self.out_layers = nn.Sequential(nn.SiLU(), nn.Dropout(dropout),
                                        zero_module(nn.Conv2d(out_channels, out_channels, 3,
                                                              padding=1)))
        self.skip = (nn.Identity() if channels == out_channels
                     else nn.Conv2d(channels, out_channels, 1))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        scale, shift = self.emb_layers(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.out_layers(self.out_norm(h) * (1 + scale) + shift)
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all H x W positions, with a residual connection."""

    def __init__(self, channels: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x).reshape(b, c, h * w))
        q, k, v = (z.reshape(b, self.num_heads, c // self.num_heads, h * w).transpose(-1, -2)
                   for z in qkv.chunk(3, dim=1))
        out = F.scaled_dot_product_attention(q, k, v)  # (b, heads, hw, c / heads)
        out = out.transpose(-1, -2).reshape(b, c, h * w)
        return x + self.proj(out).reshape(b, c, h, w)


class Downsample(nn.Module):
    """Pad to even H and W, then a stride-2 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)))


class Upsample(nn.Module):
    """Nearest-neighbour x2, crop to ``size`` (the skip's H, W), then a 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x[..., : size[0], : size[1]])


class Level(nn.Module):
    """A residual block optionally followed by attention (one step of a UNet path)."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int, attention: bool,
                 config: UNetConfig):
        super().__init__()
        self.res = ResBlock(channels, emb_channels, out_channels, config.dropout)
        self.attn = AttentionBlock(out_channels, config.num_heads) if attention else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = self.res(x, emb)
        return self.attn(x) if self.attn is not None else x


class UNet(nn.Module):
    """ε-prediction UNet: ``forward(x_t, t, cond)`` -> ε, (batch, out_channels, H, W).

    ``x_t`` is (batch, out_channels, H, W), ``t`` (batch,) integer timesteps and
    ``cond`` (batch, in_channels - out_channels, H, W) or None.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        ch = config.model_channels
        emb_ch = 4 * ch
        self.time_embed = nn.Sequential(nn.Linear(ch, emb_ch), nn.SiLU(),
                                        nn.Linear(emb_ch, emb_ch))
        self.input_conv = nn.Conv2d(config.in_channels, ch, 3, padding=1)

        # Down path: per resolution, num_res_blocks levels, then a Downsample except last.
        self.down = nn.ModuleList()
        self.downsamplers = nn.ModuleList()
        skip_channels = [ch]
        for i, mult in enumerate(config.channel_mult):
            ds = 2 ** i
            blocks = nn.ModuleList()
            for _ in range(config.num_res_blocks):
                blocks.append(Level(ch, emb_ch, mult * config.model_channels,
                                    ds in config.attention_resolutions, config))
                ch = mult * config.model_channels
                skip_channels.append(ch)
            self.down.append(blocks)
            if i < len(config.channel_mult) - 1:
                self.downsamplers.append(Downsample(ch))
                skip_channels.append(ch)

        self.middle = nn.ModuleList([Level(ch, emb_ch, ch, True, config),
                                     Level(ch, emb_ch, ch, False, config)])

        # Up path: per resolution, num_res_blocks + 1 levels eating the skips, then Upsample.
        self.up = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for i, mult in reversed(list(enumerate(config.channel_mult))):
            ds = 2 ** i
            blocks = nn.ModuleList()
            for _ in range(config.num_res_blocks + 1):
                blocks.append(Level(ch + skip_channels.pop(), emb_ch,
                                    mult * config.model_channels,
                                    ds in config.attention_resolutions, config))
                ch = mult * config.model_channels
            self.up.append(blocks)
            if i > 0:
                self.upsamplers.append(Upsample(ch))

        self.out = nn.Sequential(group_norm(ch), nn.SiLU(),
                                 zero_module(nn.Conv2d(ch, config.out_channels, 3, padding=1)))

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_embed(timestep_embedding(t, self.config.model_channels))
        h = self.input_conv(x if cond is None else torch.cat([x, cond], dim=1))
        skips = [h]
        for i, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb)
                skips.append(h)
            if i < len(self.downsamplers):
                h = self.downsamplers[i](h)
                skips.append(h)
        for block in self.middle:
            h = block(h, emb)
        for i, blocks in enumerate(self.up):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsamplers):
                h = self.upsamplers[i](h, skips[-1].shape[-2:])
        return self.out(h)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model`` (works on the meta device)."""
    return sum(p.numel() for p in model.parameters())
