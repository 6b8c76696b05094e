"""losskit.nn: Module bookkeeping, Linear (torch's initialisation and forward), Sequential, loss classes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losskit
from losskit import nn


def _mlp():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_parameters_are_registered_in_torchs_order_and_names():
    model = _mlp()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [p.shape for p in model.parameters()] == [(3, 4), (3,), (2, 3), (2,)]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())
    assert len(list(model.children())) == 3


def test_names_match_torch():
    torch = pytest.importorskip("torch")
    t = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    assert list(t.state_dict()) == list(_mlp().state_dict())


def test_shared_parameter_is_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, layer)
    assert len(list(model.parameters())) == 2


def test_custom_module_registers_attributes():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(np.ones(1))
            self.body = nn.Linear(2, 1)
            self.note = "not a parameter"

        def forward(self, x):
            return self.body(x) * self.scale

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["scale", "body.weight", "body.bias"]
    out = net(np.ones((3, 2), np.float32))
    assert out.shape == (3, 1)


def test_assigning_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_linear_initialisation_bound_and_dtype():
    losskit.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)  # torch: kaiming_uniform_(a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = layer.weight.numpy()
    assert w.dtype == np.float32 and layer.bias.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    # 120000 uniform draws: the sample std is within 1% of bound / sqrt(3)
    assert np.std(w) == pytest.approx(bound / np.sqrt(3), rel=0.01)
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64
    assert nn.Linear(3, 2, bias=False).bias is None


def test_manual_seed_reproduces_initial_weights():
    losskit.manual_seed(7)
    a = nn.Linear(5, 4).state_dict()
    losskit.manual_seed(7)
    b = nn.Linear(5, 4).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_forward_and_gradients_equal_torch(dtype, rng, assert_close):
    torch = pytest.importorskip("torch")
    t = torch.nn.Linear(5, 3).to(getattr(torch, np.dtype(dtype).name))
    layer = nn.Linear(5, 3, dtype=dtype)
    layer.load_state_dict(t.state_dict())
    x = rng.standard_normal((4, 5)).astype(dtype)
    xt = losskit.tensor(x, requires_grad=True)
    out = layer(xt)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    tout = t(tx)
    assert_close(out.numpy(), tout.detach().numpy())
    cot = rng.uniform(0.5, 1.5, (4, 3)).astype(dtype)
    out.backward(cot)
    tout.backward(torch.from_numpy(cot))
    assert_close(xt.grad.numpy(), tx.grad.numpy())
    assert_close(layer.weight.grad.numpy(), t.weight.grad.numpy())
    assert_close(layer.bias.grad.numpy(), t.bias.grad.numpy())


def test_state_dict_is_a_copy_and_round_trips():
    model = _mlp()
    state = model.state_dict()
    before = state["0.weight"].copy()
    model[0].weight.data = model[0].weight.data + 1.0
    np.testing.assert_array_equal(state["0.weight"], before)
    model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].weight.numpy(), before)


def test_load_state_dict_errors():
    model = _mlp()
    state = model.state_dict()
    bad = dict(state, **{"0.weight": np.zeros((4, 3), np.float32)})
    with pytest.raises(ValueError, match="0.weight has shape"):
        model.load_state_dict(bad)
    partial = {k: v for k, v in state.items() if k != "2.bias"}
    with pytest.raises(KeyError, match="2.bias"):
        model.load_state_dict(partial)
    result = model.load_state_dict({**partial, "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["extra"]


def test_zero_grad_train_eval_and_cast():
    model = _mlp()
    model(np.ones((2, 4), np.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())


def test_relu_gradient_is_zero_at_zero():
    x = losskit.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    nn.ReLU()(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])  # torch's relu'(0) = 0


def test_repr_reads_like_torch():
    text = repr(_mlp())
    assert text.startswith("Sequential(\n  (0): Linear(in_features=4, out_features=3, bias=True)")
    assert "(1): ReLU()" in text


LOSS_CLASSES = [
    (nn.L1Loss, {}, "l1_loss"),
    (nn.MSELoss, {"reduction": "sum"}, "mse_loss"),
    (nn.HuberLoss, {"delta": 0.5}, "huber_loss"),
    (nn.SmoothL1Loss, {"beta": 0.5, "reduction": "none"}, "smooth_l1_loss"),
    (nn.BCEWithLogitsLoss, {"pos_weight": np.array([2.0, 0.5, 1.0])}, "binary_cross_entropy_with_logits"),
]


@pytest.mark.parametrize("cls, options, fn", LOSS_CLASSES, ids=[c[0].__name__ for c in LOSS_CLASSES])
def test_loss_classes_equal_torch(cls, options, fn, rng, assert_close):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 3))
    y = rng.uniform(0, 1, (4, 3))
    t_options = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    expected = getattr(torch.nn, cls.__name__)(**t_options)(torch.from_numpy(x), torch.from_numpy(y))
    assert_close(cls(**options)(x, y), expected.numpy())


@pytest.mark.parametrize("cls", [nn.BCELoss, nn.CrossEntropyLoss, nn.NLLLoss, nn.L1Loss, nn.MSELoss, nn.SmoothL1Loss, nn.BCEWithLogitsLoss])
def test_legacy_size_average_maps_like_torch(cls):
    with pytest.warns(DeprecationWarning, match="reduction='sum'"):
        assert cls(size_average=False).reduction == "sum"
    with pytest.warns(DeprecationWarning, match="reduction='none'"):
        assert cls(reduce=False).reduction == "none"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cls().reduction == "mean"


def test_cross_entropy_and_nll_classes_take_torchs_options(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((5, 4))
    t = np.array([0, 3, -1, 2, 1])
    w = np.array([1.0, 2.0, 0.5, 1.5])
    ours = nn.CrossEntropyLoss(weight=w, ignore_index=-1, label_smoothing=0.2)(x, t)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(w), ignore_index=-1, label_smoothing=0.2)(
        torch.from_numpy(x), torch.from_numpy(t)
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)
    ours = nn.NLLLoss(weight=w, ignore_index=-1, reduction="sum")(x, t)
    theirs = torch.nn.NLLLoss(weight=torch.from_numpy(w), ignore_index=-1, reduction="sum")(
        torch.from_numpy(x), torch.from_numpy(t)
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)


def test_nn_functional_is_losskit_functional():
    import losskit.functional
    import losskit.nn.functional

    assert losskit.nn.functional.cross_entropy is losskit.functional.cross_entropy
    assert set(losskit.nn.functional.__all__) == set(losskit.functional.__all__)
