"""MoCo v3's view augmentations (BYOL's recipe), batched on the device with per-sample random parameters.

After the loader's random resized crop and flip (done on uint8 in the workers, see :mod:`rsfm.pretrain.data`), each
view gets, in this order: colour jitter with probability 0.8 (brightness 0.4, contrast 0.4, saturation 0.2, hue
0.1), grayscale with probability 0.2, Gaussian blur (sigma in [0.1, 2.0], kernel about a tenth of the image side)
with probability 1.0 for the first view and 0.1 for the second, and solarisation with probability 0 for the first
view and 0.2 for the second (Chen et al. 2021, appendix; Grill et al. 2020).

Everything runs as a handful of tensor operations over the whole batch, so augmentation costs a few kernels per step
instead of per-image Python work in the loader. Parameters are drawn from a ``torch.Generator`` the training loop
seeds from (seed, step, micro-batch, rank): a resumed run augments exactly as an uninterrupted one. Hue jitter is a
rotation of the chroma plane in YIQ space (an exact rotation of hue angle for the YIQ hue definition; torchvision
rotates in HSV, which differs slightly for saturated colours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


@dataclass(frozen=True)
class ViewPolicy:
    """Probabilities of one view's blur and solarisation (MoCo v3's two views differ only in these)."""

    blur: float
    solarize: float


MOCO_VIEWS = (ViewPolicy(blur=1.0, solarize=0.0), ViewPolicy(blur=0.1, solarize=0.2))


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _gray(images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_GRAY, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def _blend(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * images + (1 - factor) * other, clamped to [0, 1] (torchvision's _blend), per sample."""
    factor = factor.view(-1, 1, 1, 1)
    return (factor * images + (1 - factor) * other).clamp(0, 1)


def _rotate_hue(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate each image's chroma (I, Q) by ``angle`` radians, keeping luma."""
    to_yiq = torch.tensor(_RGB_TO_YIQ, device=images.device, dtype=images.dtype)
    yiq = torch.einsum("ij,njhw->nihw", to_yiq, images)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(to_yiq), yiq).clamp(0, 1)


def _blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with a per-sample sigma (pixels), reflect-padded, as one grouped convolution."""
    n, c, h, w = images.shape
    radius = max(1, round(0.05 * min(h, w)))  # kernel side 2r + 1 ~ a tenth of the image, as in BYOL
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets.view(1, -1) / sigma.view(-1, 1)) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, dim=0)  # (n * c, 2r + 1)
    x = images.reshape(1, n * c, h, w)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kernel.view(n * c, 1, 1, -1), groups=n * c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), kernel.view(n * c, 1, -1, 1), groups=n * c)
    return x.view(n, c, h, w)


def augment_view(images: torch.Tensor, policy: ViewPolicy, generator: torch.Generator) -> torch.Tensor:
    """Float images in [0, 1] (N, 3, H, W) -> one augmented view, same shape, in [0, 1]."""
    n, device = images.shape[0], images.device

    def draw(low: float, high: float) -> torch.Tensor:
        return _uniform(n, low, high, generator).to(device, images.dtype)

    def happens(p: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) < p).to(device).view(-1, 1, 1, 1)

    jitter = happens(0.8)
    brightness, contrast, saturation = draw(0.6, 1.4), draw(0.6, 1.4), draw(0.8, 1.2)
    hue = draw(-0.1, 0.1) * 2 * math.pi  # hue factor 0.1 = a tenth of a turn
    out = _blend(images, torch.zeros_like(images), brightness)
    out = _blend(out, _gray(out).mean(dim=(2, 3), keepdim=True), contrast)
    out = _blend(out, _gray(out), saturation)
    out = torch.where(jitter, _rotate_hue(out, hue), images)
    out = torch.where(happens(0.2), _gray(out).expand_as(out), out)
    blur, sigma = happens(policy.blur), draw(0.1, 2.0)
    out = torch.where(blur, _blur(out, sigma), out)
    return torch.where(happens(policy.solarize) & (out >= 0.5), 1 - out, out)


__all__ = ["MOCO_VIEWS", "ViewPolicy", "augment_view"]
