"""The hand-written TD3 update against a plain autograd TD3 (Fujimoto's formulation), step for step."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from lesr_local.config import TD3Config
from lesr_local.rl.buffer import Batch
from lesr_local.rl.networks import FlatAdam, StackedMLP
from lesr_local.rl.td3 import TD3
from lesr_local.rl.td3_autograd import AutogradTD3

OBS, ACT, BATCH = 5, 3, 64


def _linears(net: StackedMLP, member: int) -> nn.Sequential:
    """The same MLP as ordinary nn.Linear layers (autograd), weights copied from `member`."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(net.dims[:-1], net.dims[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < net.layers - 1:
            layers.append(nn.ReLU())
    seq = nn.Sequential(*layers)
    net.copy_to_linears([m for m in seq if isinstance(m, nn.Linear)], member)
    return seq


def _flat(seq: nn.Sequential) -> torch.Tensor:
    """nn.Linear parameters in StackedMLP's layout (weight as (in, out), then bias), one member."""
    parts = []
    for m in seq:
        if isinstance(m, nn.Linear):
            parts += [m.weight.detach().T.reshape(-1), m.bias.detach().reshape(-1)]
    return torch.cat(parts)


def _member(net: StackedMLP, member: int, data: torch.Tensor | None = None) -> torch.Tensor:
    """One member's parameters out of a flat tensor in `net`'s layout (default: its weights)."""
    data = net.data if data is None else data
    parts, offset = [], 0
    for w, b in zip(net.weights, net.biases, strict=True):
        for t in (w, b):
            size = t.numel()
            parts.append(data[offset:offset + size].view(t.shape)[member].reshape(-1))
            offset += size
    return torch.cat(parts)


def test_stacked_mlp_backward_matches_autograd() -> None:
    torch.manual_seed(0)
    net = StackedMLP(2, (7, 16, 16, 4), torch.device("cpu"))
    x = torch.randn(2, 9, 7)
    out, inputs = net.forward(x)
    upstream = torch.randn_like(out)
    grad_x = net.backward(inputs, upstream, input_grad=True)

    for member in range(2):
        seq = _linears(net, member)
        xm = x[member].clone().requires_grad_(True)
        ref = seq(xm)
        assert torch.allclose(ref, out[member], atol=1e-6)
        (ref * upstream[member]).sum().backward()
        expected = torch.cat([torch.cat([m.weight.grad.T.reshape(-1), m.bias.grad.reshape(-1)])
                              for m in seq if isinstance(m, nn.Linear)])
        assert torch.allclose(_member(net, member, net.grad), expected, atol=1e-5)
        assert grad_x is not None and torch.allclose(grad_x[member], xm.grad, atol=1e-6)


def test_member_slice_gives_input_grad_without_touching_weight_grads() -> None:
    torch.manual_seed(1)
    net = StackedMLP(2, (4, 8, 1), torch.device("cpu"))
    net.grad.fill_(7.0)
    x = torch.randn(1, 5, 4)
    out, inputs = net.forward(x, members=slice(1, 2))
    seq = _linears(net, 1)
    xr = x[0].clone().requires_grad_(True)
    assert torch.allclose(seq(xr), out[0], atol=1e-6)
    seq(xr).sum().backward()
    grad = net.backward(inputs, torch.ones_like(out), weight_grads=False, input_grad=True, members=slice(1, 2))
    assert grad is not None and torch.allclose(grad[0], xr.grad, atol=1e-6)
    assert torch.all(net.grad == 7.0)
    with pytest.raises(ValueError):
        net.backward(inputs, torch.ones_like(out), members=slice(1, 2))


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
def test_flat_adam_matches_torch_adam(fused: bool) -> None:
    """Both paths step like torch.optim.Adam (so they match each other too)."""
    torch.manual_seed(3)
    net = StackedMLP(1, (3, 6, 2), torch.device("cpu"))
    opt = FlatAdam(net, 1e-2, fused=fused)
    if fused and not opt.fused:
        pytest.skip(f"this torch build ({torch.__version__}) has no fused Adam kernel (torch._fused_adam_) "
                    "for CPU tensors; FlatAdam uses the plain path, tested alongside")
    assert opt.fused == fused
    param = net.data.clone().requires_grad_(True)
    reference = torch.optim.Adam([param], lr=1e-2)
    for _ in range(5):
        g = torch.randn_like(net.data)
        net.grad.copy_(g)
        param.grad = g.clone()
        opt.step()
        reference.step()
    assert torch.allclose(net.data, param.detach(), atol=1e-6)


def _reference_from(ours: TD3, cfg: TD3Config) -> AutogradTD3:
    """The package's readable autograd TD3 with our networks' weights (critic members = Q1, Q2)."""
    ref = AutogradTD3(OBS, ACT, ours.act_low.numpy(), ours.act_high.numpy(), cfg)
    for net, member, seq in ((ours.actor, 0, ref.actor), (ours.actor_target, 0, ref.actor_target),
                             (ours.critic, 0, ref.q1), (ours.critic, 1, ref.q2),
                             (ours.critic_target, 0, ref.q1_target), (ours.critic_target, 1, ref.q2_target)):
        net.copy_to_linears([m for m in seq if isinstance(m, nn.Linear)], member)
    return ref


def _batch(gen: torch.Generator) -> Batch:
    return Batch(obs=torch.randn(BATCH, OBS, generator=gen), act=torch.rand(BATCH, ACT, generator=gen) * 4 - 2,
                 reward=torch.randn(BATCH, generator=gen),
                 next_obs=torch.randn(BATCH, OBS, generator=gen),
                 not_done=(torch.rand(BATCH, generator=gen) > 0.1).float())


def test_td3_update_matches_the_autograd_formulation() -> None:
    cfg = TD3Config(hidden_sizes=(32, 32), tau=0.05)  # a large tau makes target drift visible
    torch.manual_seed(4)
    ours = TD3(OBS, ACT, np.full(ACT, -2.0), np.array([2.0, 2.0, 1.0]), cfg, torch.device("cpu"))
    reference = _reference_from(ours, cfg)
    start = copy.deepcopy(ours.state_dict())
    gen = torch.Generator().manual_seed(5)
    for step in range(6):
        batch = _batch(gen)
        torch.manual_seed(100 + step)  # the same target-smoothing noise on both sides
        ours.update(batch)
        torch.manual_seed(100 + step)
        reference.update(batch)
    assert ours.updates == 6
    pairs = [(ours.actor, 0, reference.actor), (ours.actor_target, 0, reference.actor_target),
             (ours.critic, 0, reference.q1), (ours.critic, 1, reference.q2),
             (ours.critic_target, 0, reference.q1_target), (ours.critic_target, 1, reference.q2_target)]
    for net, member, seq in pairs:
        assert torch.allclose(_member(net, member), _flat(seq), atol=2e-5), (net.dims, member)
    # ...and every network actually moved (a no-op update would also "match" a no-op reference).
    for name in ("actor", "actor_target", "critic", "critic_target"):
        assert not torch.allclose(ours.state_dict()[name], start[name]), name


def test_state_dict_round_trip_and_foreign_layout_refused() -> None:
    cfg = TD3Config(hidden_sizes=(16, 16))
    torch.manual_seed(6)
    a = TD3(OBS, ACT, -np.ones(ACT), np.ones(ACT), cfg, torch.device("cpu"))
    gen = torch.Generator().manual_seed(7)
    for _ in range(4):
        a.update(_batch(gen))
    b = TD3(OBS, ACT, -np.ones(ACT), np.ones(ACT), cfg, torch.device("cpu"))
    b.load_state_dict(a.state_dict())
    batch = _batch(gen)
    torch.manual_seed(8)
    a.update(batch)
    a.update(batch)
    torch.manual_seed(8)
    b.update(batch)
    b.update(batch)
    for name in ("actor", "critic", "actor_target", "critic_target"):
        assert torch.equal(a.state_dict()[name], b.state_dict()[name]), name
    obs = np.random.default_rng(0).normal(size=(3, OBS))
    assert np.allclose(a.act(obs), a.policy_module()(torch.as_tensor(obs, dtype=torch.float32)).detach().numpy(),
                       atol=1e-6)
    assert a.act(obs[0]).shape == (ACT,)
    with pytest.raises(ValueError, match="unknown layout"):
        b.load_state_dict({"actor": a.actor.data})
