"""Regression tests for the wrong answers of issue 15; each one failed on the code before the fix."""
import math
import os

import pytest
import torch
from torch import nn

import dlext
from dlext import autoencoders as ae
from dlext import gan, kl, sample_quality as sq, train

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _blobs(n=50, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    return torch.randn(n, 2, generator=gen) + 2 * y[:, None].float(), y


class DropoutNet(nn.Module):
    """A classifier whose output depends on train/eval mode (dropout)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))

    def forward(self, x):
        return self.net(x)


# --- train
def test_accuracy_refuses_column_labels_instead_of_broadcasting():
    X, y = _blobs()
    model = nn.Linear(2, 2)
    right = train.accuracy(model, X, y, device=CPU)
    # (N, 1) labels against (N,) predictions broadcast to an (N, N) table: a different, wrong number
    with pytest.raises(ValueError, match="y"):
        train.accuracy(model, X, y[:, None], device=CPU)
    assert 0 <= right <= 1


def test_fit_checks_batch_size_before_dividing_and_refuses_no_data():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="batch_size"):  # was ZeroDivisionError
        train.fit(model, 10, lambda idx: model(torch.zeros(len(idx), 2)).sum(), batch_size=0, progress=False)
    with pytest.raises(ValueError, match="X"):  # was one empty batch and a loss of nan
        train.train_classifier(model, torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), device=CPU, progress=False)


def test_predict_proba_computes_in_eval_mode_and_restores_train_mode():
    torch.manual_seed(0)
    X, _ = _blobs()
    model = DropoutNet().train()
    p = train.predict_proba(model, X, device=CPU, batch_size=7)
    assert model.training and model.net[2].training  # was left in eval mode
    with torch.no_grad():
        expected = model.eval()(X).softmax(-1)  # deterministic: dropout off
    torch.testing.assert_close(p, expected)


# --- autoencoders
def test_precision_at_k_refuses_column_labels_empty_input_and_real_hamming_codes():
    gen = torch.Generator().manual_seed(0)
    db, labels = torch.randn(30, 4, generator=gen), torch.randint(0, 3, (30,), generator=gen)
    assert 0 <= ae.precision_at_k(db, labels, db, labels, k=5) <= 1
    with pytest.raises(ValueError, match="query_labels"):  # gave a "precision" of 10.13
        ae.precision_at_k(db, labels[:, None], db, labels, k=5)
    with pytest.raises(ValueError, match="queries"):  # was ZeroDivisionError
        ae.precision_at_k(db[:0], labels[:0], db, labels, k=5)
    with pytest.raises(ValueError, match="hamming"):  # real-valued codes passed silently
        ae.precision_at_k(db, labels, db, labels, k=5, metric="hamming")


def test_reconstruct_and_mse_work_on_the_packages_own_vae():
    torch.manual_seed(0)
    vae, X = ae.VAE(latent_dim=3, hidden=16), torch.rand(10, 1, 28, 28)
    X_hat = ae.reconstruct(vae, X, device=CPU, batch_size=4)  # crashed: VAE.forward returns a tuple
    with torch.no_grad():
        mu, _ = vae.encode(X)
        expected = vae.decode(mu).sigmoid()  # the decoder's mean at z = mu
    torch.testing.assert_close(X_hat, expected)
    assert ae.reconstruction_mse(vae, X, device=CPU) == pytest.approx(((expected - X) ** 2).mean().item(), rel=1e-6)


def test_autoencoder_helpers_restore_the_callers_mode():
    torch.manual_seed(0)
    X = torch.rand(6, 1, 28, 28)
    mlp, vae = ae.MLPAutoencoder(3, hidden=(8,)).train(), ae.VAE(3, hidden=8).train()
    ae.reconstruct(mlp, X, device=CPU)
    ae.negative_elbo(vae, X, device=CPU, generator=torch.Generator().manual_seed(0))
    assert mlp.training and vae.training  # both were left in eval mode


def test_mlp_autoencoder_refuses_a_string_for_linear():
    with pytest.raises(TypeError, match="linear"):  # "no" is truthy: it built the linear model
        ae.MLPAutoencoder(4, linear="no")


@needs_cuda
def test_reconstruction_mse_and_precision_at_k_with_cuda_data():
    model, X = ae.MLPAutoencoder(3, hidden=(8,)), torch.rand(6, 1, 28, 28)
    cuda = torch.device("cuda")
    cpu_value = ae.reconstruction_mse(model, X, device=CPU)
    # X on the GPU was compared with CPU reconstructions (a device mismatch inside torch)
    assert ae.reconstruction_mse(model, X.to(cuda), device=cuda) == pytest.approx(cpu_value, rel=1e-4)
    assert next(model.parameters()).device.type == "cpu"  # the model is back where it was
    db, labels = torch.randn(20, 4), torch.randint(0, 3, (20,))
    expected = ae.precision_at_k(db, labels, db, labels, k=3)
    assert ae.precision_at_k(db.to(cuda), labels, db.to(cuda), labels, k=3) == expected  # labels on the CPU


# --- gan
def test_modes_covered_of_no_points_is_an_error_not_every_mode():
    _, centres = gan.ring_of_gaussians(10, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="points"):  # 0 >= 0: reported all 8 modes covered
        gan.modes_covered(torch.zeros(0, 2), centres)


def test_refresh_batchnorm_keeps_each_momentum_and_the_mode():
    G = gan.DCGenerator(latent_dim=4, width=2).train()
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    norms[0].momentum, norms[1].momentum = 0.01, None  # the caller's settings
    gan.refresh_batchnorm(G, device=CPU, batches=1, batch_size=20)
    assert [m.momentum for m in norms] == [0.01, None]  # were both set to 0.1
    assert G.training


def test_sample_restores_the_generators_mode():
    G = gan.DCGenerator(latent_dim=4, width=2).train()
    gan.sample(G, 5, device=CPU)
    assert G.training


def test_conditional_models_refuse_labels_outside_the_classes():
    G, D = gan.ConditionalDCGenerator(latent_dim=4, width=2), gan.ConditionalDCDiscriminator(width=2)
    with pytest.raises(ValueError, match="labels"):
        G(torch.zeros(2, 4), torch.tensor([1, 12]))
    with pytest.raises(ValueError, match="labels"):
        D(torch.zeros(2, 1, 28, 28), torch.tensor([1, 12]))


def test_ema_update_refuses_a_different_architecture():
    ema, model = gan.Generator(hidden=64), gan.Generator(hidden=64)
    model.net.append(nn.Linear(2, 2))  # one more layer: zip used to stop early, silently
    with pytest.raises(ValueError, match="architecture"):
        gan.ema_update(ema, model)


def test_unvalidated_arguments_now_raise():
    with pytest.raises(ValueError, match="modes"):
        gan.ring_of_gaussians(10, modes=0)
    with pytest.raises(TypeError, match="scale"):
        gan.grad_reverse(torch.zeros(2), scale="a")
    with pytest.raises(ValueError, match="l1"):
        ae.train_autoencoder(ae.MLPAutoencoder(2, hidden=(4,)), torch.rand(4, 784), device=CPU, l1=-1.0,
                             progress=False)


# --- kl
@pytest.mark.parametrize("fn", [kl.entropy, lambda p: kl.kl_divergence(p, torch.full((3,), 1 / 3))])
def test_entropy_and_kl_gradients_are_finite_where_p_is_zero(fn):
    logits = torch.tensor([0.0, 1.0, -200.0], requires_grad=True)
    p = logits.softmax(-1)  # float32 underflows: p[2] == 0 exactly
    assert p[2] == 0
    fn(p).backward()
    assert torch.isfinite(logits.grad).all(), logits.grad  # was NaN
    # the value is unchanged, and the gradient equals that of the same function of a p that does not underflow
    logits64 = torch.tensor([0.0, 1.0, -200.0], dtype=torch.float64, requires_grad=True)
    fn(logits64.softmax(-1)).backward()
    torch.testing.assert_close(logits.grad.double(), logits64.grad, atol=1e-6, rtol=1e-5)


def test_kl_gradient_wrt_q_is_finite_where_p_and_q_are_zero():
    q = torch.tensor([0.5, 0.5, 0.0], requires_grad=True)
    kl.kl_divergence(torch.tensor([0.5, 0.5, 0.0]), q).backward()
    assert torch.isfinite(q.grad).all(), q.grad  # 0/0 = NaN in xlogy's gradient


# --- sample_quality
def test_features_restores_the_classifiers_mode():
    clf = sq.MNISTClassifier(feature_dim=8).train()
    sq.features(clf, torch.rand(3, 1, 28, 28), device=CPU)
    assert clf.training


# --- dlext.seed
def test_seed_leaves_pythonhashseed_alone(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    dlext.seed(3)
    assert "PYTHONHASHSEED" not in os.environ  # setting it changes nothing in the running process
    assert math.isfinite(torch.rand(1).item())
