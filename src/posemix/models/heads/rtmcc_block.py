"""RTMPose's gated attention unit over keypoint tokens (``RTMCCBlock``), with the
``ScaleNorm`` and ``Scale`` layers it uses; parameter names are MMPose's (``gamma``,
``beta``, ``uv``, ``o``, ``ln.g``, ``res_scale.scale``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from posemix.errors import ConfigError

_GAU_ACTIVATIONS = {"SiLU": nn.SiLU, "ReLU": nn.ReLU}


class ScaleNorm(nn.Module):
    """Divide by the RMS of the last dimension (floored at ``eps``), times a learned
    scalar ``g`` (starts at 1)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.scale = dim ** -0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class Scale(nn.Module):
    """Per-channel learned scale of the last dimension (starts at ``init_value``)."""

    def __init__(self, dim: int, init_value: float = 1.0, trainable: bool = True):
        super().__init__()
        self.scale = nn.Parameter(init_value * torch.ones(dim), requires_grad=trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero whole samples with probability ``rate``, rescale the rest."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class RTMCCBlock(nn.Module):
    """Gated attention unit (self-attention among the ``num_token`` keypoints).

    ``h = ScaleNorm(x)``; ``u, v, base = split(act(h W_uv))``; ``q, k`` are two per-dim
    affine maps of ``base`` (``gamma``, ``beta``); attention ``relu(q k^T / sqrt(s))^2``
    (no softmax), optionally with a learned relative-position (Toeplitz) bias; output
    ``(u * (A v)) W_o``, plus ``res_scale * x`` when the widths agree.
    """

    def __init__(self, num_token: int, in_token_dims: int, out_token_dims: int,
                 expansion_factor: float = 2, s: int = 128, eps: float = 1e-5,
                 dropout_rate: float = 0.0, drop_path: float = 0.0,
                 attn_type: str = "self-attn", act_fn: str = "SiLU", bias: bool = False,
                 use_rel_bias: bool = True, pos_enc: bool = False):
        super().__init__()
        if attn_type != "self-attn":
            raise ConfigError(f"RTMCCBlock attn_type {attn_type!r} is not supported; "
                              f"RTMCCHead uses 'self-attn'")
        if pos_enc:
            raise ConfigError("RTMCCBlock pos_enc=True (rotary encoding) is not supported; "
                              "the RTMPose configs use pos_enc=False")
        if act_fn not in _GAU_ACTIVATIONS:
            raise ConfigError(f"RTMCCBlock act_fn {act_fn!r} is not supported; use one of "
                              f"{', '.join(_GAU_ACTIVATIONS)}")
        self.s = s
        self.e = int(in_token_dims * expansion_factor)
        self.num_token = num_token
        self.drop_path_rate = drop_path
        # direct parameters first: MMPose's state-dict order
        self.w = (nn.Parameter(torch.rand(2 * num_token - 1)) if use_rel_bias else None)
        self.gamma = nn.Parameter(torch.rand(2, s))
        self.beta = nn.Parameter(torch.rand(2, s))
        self.o = nn.Linear(self.e, out_token_dims, bias=bias)
        self.uv = nn.Linear(in_token_dims, 2 * self.e + s, bias=bias)
        nn.init.xavier_uniform_(self.uv.weight)
        self.ln = ScaleNorm(in_token_dims, eps=eps)
        self.act_fn = _GAU_ACTIVATIONS[act_fn](inplace=True)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else None
        self.res_scale = Scale(in_token_dims) if in_token_dims == out_token_dims else None

    def rel_pos_bias(self, length: int) -> torch.Tensor:
        """(length, length) bias with ``[i, j] = w[num_token - 1 + j - i]``."""
        offsets = torch.arange(length, device=self.w.device)
        return self.w[self.num_token - 1 + offsets[None, :] - offsets[:, None]]

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        uv = self.act_fn(self.uv(self.ln(x)))
        u, v, base = torch.split(uv, [self.e, self.e, self.s], dim=-1)
        q = base * self.gamma[0] + self.beta[0]
        k = base * self.gamma[1] + self.beta[1]
        qk = torch.matmul(q, k.transpose(-1, -2))
        if self.w is not None:
            qk = qk + self.rel_pos_bias(x.shape[-2])
        kernel = torch.square(F.relu(qk / math.sqrt(self.s)))
        if self.dropout is not None:
            kernel = self.dropout(kernel)
        return self.o(u * torch.matmul(kernel, v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, num_token, in_token_dims) → (B, num_token, out_token_dims)."""
        out = _drop_path(self._attention(x), self.drop_path_rate, self.training)
        return out if self.res_scale is None else self.res_scale(x) + out
