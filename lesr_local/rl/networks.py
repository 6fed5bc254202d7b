"""TD3 networks.

Training uses `StackedMLP`: `members` independent ReLU MLPs whose weights are stacked
`(members, fan_in, fan_out)` and live, with their gradients, in one flat tensor each. Forward and
backward are written out by hand (an MLP's backward is three lines per layer), which on a CPU is
where TD3's time goes besides the matmuls themselves: no autograd graph, no per-parameter optimizer
loop, one fused Adam call and one `lerp_` per network for the target update. The twin critics are
one 2-member stack; the actor is a 1-member stack. Initialisation matches `nn.Linear`'s default.

`Actor` is the plain `nn.Module` a saved policy is loaded into for inference (rendering, `lesr show`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    last = in_dim
    for width in hidden:
        layers += [nn.Linear(last, width), nn.ReLU()]
        last = width
    layers.append(nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """obs -> action in [low, high] (tanh squashed, then scaled to the action box)."""

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Sequence[int], act_low: torch.Tensor,
        act_high: torch.Tensor,
    ) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim)
        self.register_buffer("act_scale", ((act_high - act_low) / 2).float())
        self.register_buffer("act_bias", ((act_high + act_low) / 2).float())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs)) * self.act_scale + self.act_bias


class StackedMLP:
    """`members` ReLU MLPs of the same shape, evaluated together on inputs of shape (members, batch, in).

    `data` holds every weight and bias back to back and `grad` their gradients in the same layout;
    `weights[i]` / `biases[i]` (and `weight_grads[i]` / `bias_grads[i]`) are views into them.
    """

    def __init__(self, members: int, dims: Sequence[int], device: torch.device,
                 generator: torch.Generator | None = None) -> None:
        self.members, self.dims = members, tuple(dims)
        shapes = []
        for fan_in, fan_out in zip(self.dims[:-1], self.dims[1:], strict=True):
            shapes += [(members, fan_in, fan_out), (members, 1, fan_out)]
        total = sum(math.prod(shape) for shape in shapes)
        self.data = torch.empty(total, dtype=torch.float32, device=device)
        self.grad = torch.zeros(total, dtype=torch.float32, device=device)
        params, grads, offset = [], [], 0
        for shape in shapes:
            size = math.prod(shape)
            params.append(self.data[offset:offset + size].view(shape))
            grads.append(self.grad[offset:offset + size].view(shape))
            offset += size
        self.weights, self.biases = params[0::2], params[1::2]
        self.weight_grads, self.bias_grads = grads[0::2], grads[1::2]
        with torch.no_grad():
            for weight, bias in zip(self.weights, self.biases, strict=True):
                bound = 1.0 / math.sqrt(weight.shape[1])  # nn.Linear's default, per member
                weight.uniform_(-bound, bound, generator=generator)
                bias.uniform_(-bound, bound, generator=generator)

    @property
    def layers(self) -> int:
        return len(self.weights)

    def forward(self, x: torch.Tensor, members: slice | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Output (members, batch, out) and the inputs of every layer (what `backward` needs).

        `members` restricts the pass to a slice of the stack (TD3's actor loss uses only Q1).
        """
        inputs = [x]
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            if members is not None:
                weight, bias = weight[members], bias[members]
            x = torch.baddbmm(bias, x, weight)
            if i < self.layers - 1:
                x = x.relu_()
                inputs.append(x)
        return x, inputs

    def backward(
        self, inputs: list[torch.Tensor], grad_out: torch.Tensor, *, weight_grads: bool = True,
        input_grad: bool = False, members: slice | None = None,
    ) -> torch.Tensor | None:
        """Back-propagate d(loss)/d(output) through the layers recorded by `forward`.

        With `weight_grads` the parameter gradients are written (not accumulated) into `grad`;
        with `input_grad` d(loss)/d(input) is returned. Weight grads of a member slice are not
        supported (TD3 never needs them).
        """
        if weight_grads and members is not None:
            raise ValueError("weight gradients are computed for the whole stack only")
        grad = grad_out
        for i in reversed(range(self.layers)):
            layer_input = inputs[i]
            if weight_grads:
                torch.bmm(layer_input.transpose(1, 2), grad, out=self.weight_grads[i])
                torch.sum(grad, dim=1, keepdim=True, out=self.bias_grads[i])
            if i == 0 and not input_grad:
                return None
            weight = self.weights[i] if members is None else self.weights[i][members]
            grad = torch.bmm(grad, weight.transpose(1, 2))
            if i > 0:  # through the ReLU that produced this layer's input
                grad = torch.ops.aten.threshold_backward(grad, layer_input, 0.0)
        return grad

    def copy_to_linears(self, linears: Sequence[nn.Linear], member: int = 0) -> None:
        """Write one member's weights into `nn.Linear` layers (which store weight as (out, in))."""
        with torch.no_grad():
            for linear, weight, bias in zip(linears, self.weights, self.biases, strict=True):
                linear.weight.copy_(weight[member].T)
                linear.bias.copy_(bias[member, 0])


class FlatAdam:
    """Adam (PyTorch's default: bias-corrected, eps outside the square root) over one flat tensor.

    One fused kernel call when this torch build has it, else the same update as plain tensor ops.
    """

    def __init__(self, net: StackedMLP, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, fused: bool | None = None) -> None:
        """`fused`: None = the fused kernel where this torch build has it for the device."""
        self.net, self.lr, self.betas, self.eps = net, lr, betas, eps
        self.exp_avg = torch.zeros_like(net.data)
        self.exp_avg_sq = torch.zeros_like(net.data)
        self.step_count = torch.zeros((), dtype=torch.float32, device=net.data.device)
        available = hasattr(torch, "_fused_adam_") and net.data.device.type in ("cpu", "cuda")
        self.fused = available if fused is None else fused and available

    def step(self) -> None:
        beta1, beta2 = self.betas
        self.step_count += 1
        if self.fused:
            torch._fused_adam_(
                [self.net.data], [self.net.grad], [self.exp_avg], [self.exp_avg_sq], [], [self.step_count],
                lr=self.lr, beta1=beta1, beta2=beta2, weight_decay=0.0, eps=self.eps, amsgrad=False,
                maximize=False,
            )
            return
        t = float(self.step_count)
        self.exp_avg.lerp_(self.net.grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.net.grad, self.net.grad, value=1 - beta2)
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(1 - beta2**t)).add_(self.eps)
        self.net.data.addcdiv_(self.exp_avg, denom, value=-self.lr / (1 - beta1**t))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"exp_avg": self.exp_avg.cpu().clone(), "exp_avg_sq": self.exp_avg_sq.cpu().clone(),
                "step": self.step_count.cpu().clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.step_count.copy_(state["step"])
