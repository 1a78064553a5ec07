"""2-D loss surfaces (Li et al., NeurIPS 2018): the loss on a plane of parameter space, around one minimum along two
filter-normalised random directions, or through two or three minima.

θ(a, b) = θ0 + a·d1 + b·d2, evaluated with torch.func.functional_call, vmapped over a chunk of grid points at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from hw1.analysis.flat_model import FlatModel


def filter_normalized_direction(net: nn.Module, generator: torch.Generator) -> Tensor:
    """A Gaussian random direction, flat like the net's parameters, with each filter scaled to the norm of the net's
    filter (Li et al. 2018, sec. 4): a filter is one output unit's weights (a row of a Linear weight, an output
    channel of a Conv weight). Biases get zero, as in the paper's figures (their `ignore='biasbn'`)."""
    parts = []
    for parameter in net.parameters():
        weights = parameter.detach()
        if weights.dim() <= 1:
            parts.append(torch.zeros_like(weights).flatten())
            continue
        direction = torch.randn(weights.shape, generator=generator, dtype=weights.dtype).to(weights.device)
        filters, own = direction.flatten(1), weights.flatten(1)
        scale = own.norm(dim=1, keepdim=True) / filters.norm(dim=1, keepdim=True).clamp_min(1e-30)
        parts.append((filters * scale).flatten())
    return torch.cat(parts)


@dataclass(frozen=True)
class Plane:
    """θ(a, b) = origin + a·first + b·second; `points` are named points of the plane (the checkpoints) as (a, b)."""

    origin: Tensor
    first: Tensor
    second: Tensor
    points: dict[str, tuple[float, float]]

    def at(self, a: Tensor, b: Tensor) -> Tensor:
        """The parameters at each (a, b) pair: one row per pair."""
        a, b = a.to(self.origin)[:, None], b.to(self.origin)[:, None]
        return self.origin + a * self.first + b * self.second


def plane_through(minima: Sequence[Tensor], names: Sequence[str], random_direction: Tensor) -> Plane:
    """The plane through one, two or three minima.

    One: centred on it, spanned by `random_direction` and a second filter-normalised direction (the caller passes two
    stacked: shape 2×P). Two: θ1 at (0, 0), θ2 at (1, 0); the second axis is the random direction made orthogonal to
    θ2 − θ1 and given its length. Three: the second axis is θ3 − θ1's part orthogonal to θ2 − θ1, scaled the same.
    """
    origin = minima[0]
    if len(minima) == 1:
        return Plane(origin, random_direction[0], random_direction[1], {names[0]: (0.0, 0.0)})
    first = minima[1] - origin
    length = first.norm()
    other = (minima[2] - origin) if len(minima) == 3 else random_direction[0]
    orthogonal = other - (other @ first) / length**2 * first
    second = orthogonal / orthogonal.norm() * length
    points = {names[0]: (0.0, 0.0), names[1]: (1.0, 0.0)}  # by construction
    if len(minima) == 3:
        offset, scale = (minima[2] - origin).double(), float(length.double()) ** 2
        points[names[2]] = (float(offset @ first.double()) / scale, float(offset @ second.double()) / scale)
    return Plane(origin, first, second, points)


@torch.inference_mode()
def evaluate_plane(
    model: FlatModel, plane: Plane, a_values: Tensor, b_values: Tensor, data: Sequence[tuple[Tensor, Tensor]], chunk: int
) -> dict[str, Tensor]:
    """Mean cross-entropy and accuracy over all of `data` at every grid point (b rows × a columns), `chunk` grid
    points per vmapped functional_call."""
    grid_b, grid_a = torch.meshgrid(b_values, a_values, indexing="ij")
    a_flat, b_flat = grid_a.flatten(), grid_b.flatten()
    total = sum(len(labels) for _, labels in data)
    losses, correct = torch.zeros(len(a_flat), dtype=torch.float64), torch.zeros(len(a_flat), dtype=torch.float64)

    def logits(theta: Tensor, images: Tensor) -> Tensor:
        return functional_call(model.net, model.unflatten(theta), (images,))

    batched = vmap(logits, in_dims=(0, None))
    for start in range(0, len(a_flat), chunk):
        thetas = plane.at(a_flat[start : start + chunk], b_flat[start : start + chunk])
        for images, labels in data:
            out = batched(thetas, images)
            losses[start : start + chunk] += F.cross_entropy(out.transpose(1, 2), labels.expand(len(out), -1),
                                                             reduction="none").sum(1).double().cpu()  # fmt: skip
            correct[start : start + chunk] += (out.argmax(2) == labels).sum(1).double().cpu()
    shape = grid_a.shape
    return {"loss": (losses / total).reshape(shape), "acc": (correct / total).reshape(shape)}


def direction_curvatures(model: FlatModel, theta: Tensor, directions: Sequence[Tensor], radius: float,
                         data: Sequence[tuple[Tensor, Tensor]], chunk: int) -> list[float]:  # fmt: skip
    """For each direction d, the loss's normalised second difference at scale r, (L(θ − r·d) − 2L(θ) + L(θ + r·d)) /
    (1 + L(θ)): how sharply the basin rises along d (Li et al.'s 1-D plots, with filter-normalised d)."""
    steps = torch.tensor([-radius, 0.0, radius], dtype=torch.float64)
    curvatures = []
    for direction in directions:
        line = Plane(theta, direction, torch.zeros_like(direction), {})
        loss = evaluate_plane(model, line, steps, torch.zeros(1, dtype=torch.float64), data, chunk)["loss"][0].tolist()
        curvatures.append(normalised_second_difference(*loss))
    return curvatures


def normalised_second_difference(before: float, at: float, after: float) -> float:
    """(L(before) − 2L(at) + L(after)) / (1 + L(at)) of three equally spaced losses: the curvature of the loss at the
    middle one, relative to 1 + its loss as Keskar et al.'s sharpness is."""
    return (before - 2 * at + after) / (1 + at)
