"""Bad-input battery (issue 15): every public callable of dlext refuses garbage with a clear error.

The public callables are found by introspection (``_public_callables``): each module's ``__all__``
(else its public names), and for each class the public methods it defines, plus ``forward``. Every
one must have an entry in ``CASES`` (bad calls), take no arguments, or be listed in ``EXEMPT`` with a
reason, or ``test_every_public_callable_has_an_entry`` fails: a new function cannot be forgotten.

Each bad call must raise ``TypeError`` (wrong type) or ``ValueError`` (wrong value, shape, size,
NaN/inf, empty, mismatched lengths, unknown device), the convention of ``dlext.validate``, with a
message naming the argument, raised by dlext's own code (the innermost frame is in ``src/dlext``),
within ``TIMEOUT_S`` seconds: never a number, a hang, or a RuntimeError from deep inside torch.
Deliberate exceptions are marked ``deep_ok=True`` with a comment saying why.
"""
import inspect
import math
import pkgutil
import re
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn

import dlext
from dlext import autoencoders as ae
from dlext import adversarial, book, conv, data, explain, gan, interactive, kl, metrics, optim, rnn, train, transfer
from dlext import sample_quality as sq
from dlext import layers, validate, zoo
from dlext import word2vec as w2v

DLEXT_DIR = str(Path(dlext.__file__).resolve().parent)
TIMEOUT_S = 30

# Subpackages with their own API and tests, walked by other tests: reported, not silently skipped.
SUBPACKAGES = {"dlext.homework": "grading machinery, tested by tests/test_homework.py",
               "dlext.exercises": "chapter self-checks that take a student's answer, tested by test_homework.py"}


@dataclass
class Case:
    call: Callable[[], Any]
    error: type
    names: str  # a regex that the message must contain: the bad argument's name
    deep_ok: bool = False  # deliberate: the error comes from torch on dlext's behalf (say why where used)


def bad(f: Callable, *args: Any, raises: type = ValueError, names: str, deep_ok: bool = False, **kwargs: Any) -> Case:
    """A bad call ``f(*args, **kwargs)`` that must raise ``raises`` with ``names`` in its message."""
    return Case(lambda: f(*args, **kwargs), raises, names, deep_ok)


# Small, valid inputs; each case below spoils one argument.
CPU = torch.device("cpu")
NAN, INF = float("nan"), float("inf")
IMG = torch.rand(4, 1, 28, 28)  # (B, 1, 28, 28) images in [0, 1]
IMG_NAN = IMG.clone()
IMG_NAN[0, 0, 0, 0] = NAN
EMPTY_IMG = torch.zeros(0, 1, 28, 28)
X2 = torch.randn(6, 2)  # (N, 2) points
Y3 = torch.tensor([0, 1, 2, 0, 1, 2])  # (N,) labels of 3 classes
P = torch.tensor([0.25, 0.75])


def _figure(**params):
    import matplotlib.pyplot as plt
    return plt.figure()


RNN_CELL, LSTM_CELL = rnn.RNNCell(3, 5), rnn.LSTMCell(3, 5)
VOCAB = rnn.Vocab(["a b c", "a b"])
SEQ_CLF = rnn.RecurrentClassifier(10)


RING_CENTRES = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
ADV_MODEL = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))  # images (B, 1, 4, 4) -> 3 classes
ADV_X, ADV_Y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])


def _clf() -> nn.Module:
    return nn.Linear(2, 3)


def _params() -> list[nn.Parameter]:
    return [nn.Parameter(torch.zeros(3))]


def _gan_pair() -> tuple:
    G, D = gan.Generator(), gan.Discriminator()
    return G, D, torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)


def _cgan_pair() -> tuple:
    G, D = gan.ConditionalDCGenerator(latent_dim=4, width=2), gan.ConditionalDCDiscriminator(width=2)
    return G, D, torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)


MLP_AE, CONV_AE, VAE = ae.MLPAutoencoder(4, hidden=(8,)), ae.ConvAutoencoder(4, channels=(2, 2)), ae.VAE(4, hidden=8)
TOY_G, TOY_D = gan.Generator(), gan.Discriminator()
DC_G, DC_D = gan.DCGenerator(latent_dim=4, width=2), gan.DCDiscriminator(width=2)
C_G, C_D = gan.ConditionalDCGenerator(latent_dim=4, width=2), gan.ConditionalDCDiscriminator(width=2)
CLASSIFIER = sq.MNISTClassifier(feature_dim=8)
RING, CENTRES = gan.ring_of_gaussians(50, generator=torch.Generator().manual_seed(0))
CNN = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 28 * 28, 3))  # (B, 1, 28, 28) -> (B, 3)
TL_MODEL = transfer.make_model(3)  # a transfer CNN with a 3-class head
IMG_Y = torch.tensor([0, 1, 2, 0])  # (4,) labels of IMG
CURVE = torch.rand(4, 6)  # (B, steps + 1) deletion curves
_RELU = nn.ReLU()
TWICE = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), _RELU, nn.Linear(4, 3), _RELU)  # one ReLU used twice


class _TupleOut(nn.Module):
    """A model with a submodule (an LSTM) whose output is a tuple: images (B, 1, 4, 4) -> (B, 3)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 3, batch_first=True)

    def forward(self, x):
        return self.lstm(x[:, 0])[0][:, -1]


TUPLE_OUT = _TupleOut()
W2V_VOCAB = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}
W2V_COUNTS = np.array([5, 4, 3, 2, 1])
W2V_VECS = torch.randn(5, 3)  # (V, dim)
W2V_IDS, W2V_SENT = torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([0, 0, 0, 1, 1, 1])  # (N,), (N,)
SG, CBOW = w2v.SkipGramNS(5, 3), w2v.CBOWNS(5, 3)
B2, NEG = torch.tensor([0, 1]), torch.tensor([[2, 3], [4, 0]])  # (B,) ids and (B, K) negatives

# One entry per public callable: "module.name" or "module.Class.method" -> bad calls.
CASES: dict[str, list[Case]] = {
    "dlext.seed": [bad(dlext.seed, 1.5, raises=TypeError, names="seed"), bad(dlext.seed, -1, names="seed")],
    # --- train
    "train.batches": [bad(train.batches, 10, 0, names="batch_size"),  # at the call, not at the first next()
                      bad(train.batches, 10, True, raises=TypeError, names="batch_size"),
                      bad(train.batches, -1, 2, names="n")],
    "train.fit": [bad(train.fit, _clf(), 10, lambda i: None, batch_size=0, progress=False, names="batch_size"),
                  bad(train.fit, _clf(), 0, lambda i: None, progress=False, names="n"),
                  bad(train.fit, _clf(), 10, lambda i: None, lr=-1.0, progress=False, names="lr"),
                  bad(train.fit, _clf(), 10, lambda i: None, clip_norm=0.0, progress=False, names="clip_norm"),
                  bad(train.fit, _clf(), 10, "loss", raises=TypeError, names="batch_loss"),
                  bad(train.fit, "model", 10, lambda i: None, raises=TypeError, names="model")],
    "train.train_classifier": [
        bad(train.train_classifier, _clf(), X2, Y3[:5], device=CPU, names="X.*y"),
        bad(train.train_classifier, _clf(), X2[:0], Y3[:0], device=CPU, names="X"),
        bad(train.train_classifier, _clf(), X2, Y3, device=CPU, epochs=0, names="epochs"),
        bad(train.train_classifier, _clf(), X2 * NAN, Y3, device=CPU, names="X"),
        bad(train.train_classifier, _clf(), X2, Y3, device=3, raises=TypeError, names="device")],
    "train.predict_proba": [bad(train.predict_proba, _clf(), X2, device=CPU, batch_size=0, names="batch_size"),
                            bad(train.predict_proba, _clf(), X2.tolist(), device=CPU, raises=TypeError, names="X"),
                            bad(train.predict_proba, _clf(), X2, device="gpu", names="device")],
    "train.accuracy": [bad(train.accuracy, _clf(), X2, Y3[:, None], device=CPU, names="y"),
                       bad(train.accuracy, _clf(), X2, Y3.float(), device=CPU, raises=TypeError, names="y"),
                       bad(train.accuracy, _clf(), X2[:0], Y3[:0], device=CPU, names="X")],
    # --- autoencoders
    "autoencoders.MLPAutoencoder": [bad(ae.MLPAutoencoder, 0, names="code_dim"),
                                    bad(ae.MLPAutoencoder, 4, linear="no", raises=TypeError, names="linear"),
                                    bad(ae.MLPAutoencoder, 4, hidden=(8, -1), names="hidden")],
    "autoencoders.MLPAutoencoder.encode": [bad(MLP_AE.encode, torch.zeros(2, 3, 32, 32), names="x")],
    "autoencoders.MLPAutoencoder.decode": [bad(MLP_AE.decode, torch.zeros(2, 5), names="z")],
    "autoencoders.MLPAutoencoder.forward": [bad(MLP_AE, IMG.tolist(), raises=TypeError, names="x")],
    "autoencoders.ConvAutoencoder": [bad(ae.ConvAutoencoder, True, raises=TypeError, names="code_dim"),
                                     bad(ae.ConvAutoencoder, 4, channels=(0, 2), names=r"channels\[0\]")],
    "autoencoders.ConvAutoencoder.encode": [bad(CONV_AE.encode, torch.zeros(2, 28, 28), names="x")],
    "autoencoders.ConvAutoencoder.decode": [bad(CONV_AE.decode, torch.zeros(2, 5), names="z")],
    "autoencoders.ConvAutoencoder.forward": [bad(CONV_AE, IMG.long(), raises=TypeError, names="x")],
    "autoencoders.VAE": [bad(ae.VAE, latent_dim=2.5, raises=TypeError, names="latent_dim"),
                         bad(ae.VAE, hidden=0, names="hidden")],
    "autoencoders.VAE.encode": [bad(VAE.encode, torch.zeros(2, 783), names="x")],
    "autoencoders.VAE.decode": [bad(VAE.decode, torch.zeros(2, 3), names="z")],
    "autoencoders.VAE.forward": [bad(VAE, "images", raises=TypeError, names="x")],
    "autoencoders.vae_loss": [bad(ae.vae_loss, IMG, IMG[:2], torch.zeros(4, 2), torch.zeros(4, 2), names="x_logits"),
                              bad(ae.vae_loss, IMG, IMG, torch.zeros(4, 2), torch.zeros(4, 3), names="logvar"),
                              bad(ae.vae_loss, IMG_NAN, IMG, torch.zeros(4, 2), torch.zeros(4, 2), names="x"),
                              bad(ae.vae_loss, IMG, IMG, torch.full((4, 2), NAN), torch.zeros(4, 2), names="mu")],
    "autoencoders.train_autoencoder": [
        bad(ae.train_autoencoder, MLP_AE, IMG, device=CPU, l1=-1.0, progress=False, names="l1"),
        bad(ae.train_autoencoder, MLP_AE, EMPTY_IMG, device=CPU, progress=False, names="X"),
        bad(ae.train_autoencoder, MLP_AE, IMG_NAN, device=CPU, progress=False, names="X"),
        bad(ae.train_autoencoder, MLP_AE, IMG, device=CPU, corrupt=0.2, raises=TypeError, names="corrupt"),
        bad(ae.train_autoencoder, _clf(), IMG, device=CPU, raises=TypeError, names="model")],
    "autoencoders.train_vae": [bad(ae.train_vae, MLP_AE, IMG, device=CPU, raises=TypeError, names="model"),
                               bad(ae.train_vae, VAE, IMG, device=CPU, batch_size=-3, progress=False,
                                   names="batch_size")],
    "autoencoders.reconstruct": [bad(ae.reconstruct, MLP_AE, IMG[:, 0], device=CPU, names="X"),
                                 bad(ae.reconstruct, MLP_AE, IMG, device=CPU, batch_size=0, names="batch_size")],
    "autoencoders.reconstruction_mse": [bad(ae.reconstruction_mse, MLP_AE, EMPTY_IMG, device=CPU, names="X"),
                                        bad(ae.reconstruction_mse, "ae", IMG, device=CPU, raises=TypeError,
                                            names="model")],
    "autoencoders.negative_elbo": [bad(ae.negative_elbo, VAE, IMG_NAN, device=CPU, names="X"),
                                   bad(ae.negative_elbo, VAE, IMG, device=CPU, generator=0, raises=TypeError,
                                       names="generator")],
    "autoencoders.precision_at_k": [
        bad(ae.precision_at_k, X2, Y3[:, None], X2, Y3, names="query_labels"),
        bad(ae.precision_at_k, X2[:0], Y3[:0], X2, Y3, names="queries"),
        bad(ae.precision_at_k, X2, Y3, X2, Y3, k=3, metric="hamming", names="hamming"),
        bad(ae.precision_at_k, X2, Y3, X2, Y3, k=7, names="k"),
        bad(ae.precision_at_k, X2, Y3, X2[:, :1], Y3, names="width"),
        bad(ae.precision_at_k, X2, Y3, X2, Y3, metric="cosine", names="metric")],
    # --- gan
    "gan.Generator": [bad(gan.Generator, latent_dim=0, names="latent_dim"),
                      bad(gan.Generator, hidden="64", raises=TypeError, names="hidden")],
    "gan.Generator.forward": [bad(TOY_G, torch.zeros(3, 5), names="z")],
    "gan.Discriminator": [bad(gan.Discriminator, data_dim=-2, names="data_dim")],
    "gan.Discriminator.forward": [bad(TOY_D, torch.zeros(3), names="x")],
    "gan.DCGenerator": [bad(gan.DCGenerator, width=0, names="width"),
                        bad(gan.DCGenerator, num_classes=-1, names="num_classes")],
    "gan.DCGenerator.forward": [bad(DC_G, torch.zeros(3, 5), names="noise"),
                                bad(DC_G, np.zeros((3, 4)), raises=TypeError, names="z")],
    "gan.DCDiscriminator": [bad(gan.DCDiscriminator, width=1.5, raises=TypeError, names="width")],
    "gan.DCDiscriminator.features": [bad(DC_D.features, torch.zeros(2, 28, 28), names="images")],
    "gan.DCDiscriminator.forward": [bad(DC_D, [[0.0]], raises=TypeError, names="x")],
    "gan.ConditionalDCGenerator": [bad(gan.ConditionalDCGenerator, num_classes=0, names="num_classes")],
    "gan.ConditionalDCGenerator.forward": [
        bad(C_G, torch.zeros(2, 4), torch.tensor([3, 12]), names="labels"),
        bad(C_G, torch.zeros(2, 4), torch.tensor([3, 1, 2]), names="labels"),
        bad(C_G, torch.zeros(2, 4), torch.tensor([0.0, 1.0]), raises=TypeError, names="labels")],
    "gan.ConditionalDCDiscriminator": [bad(gan.ConditionalDCDiscriminator, num_classes=False, raises=TypeError,
                                           names="num_classes")],
    "gan.ConditionalDCDiscriminator.forward": [bad(C_D, IMG, torch.tensor([0, 1, 2, -1]), names="labels")],
    "gan.discriminator_loss": [bad(gan.discriminator_loss, torch.zeros(0), torch.zeros(3), names="real_logits"),
                               bad(gan.discriminator_loss, torch.zeros(3), torch.full((3,), NAN),
                                   names="fake_logits")],
    "gan.generator_loss": [bad(gan.generator_loss, torch.zeros(3), "minimax", names="kind"),
                           bad(gan.generator_loss, [0.0], raises=TypeError, names="fake_logits")],
    "gan.train_step": [bad(gan.train_step, *_gan_pair(), X2, d_steps=0, names="d_steps"),
                       bad(gan.train_step, *_gan_pair(), X2, loss="wasserstein", names="loss"),
                       bad(gan.train_step, *_gan_pair(), X2 * INF, names="real"),
                       bad(gan.train_step, *_gan_pair()[:3], "opt", X2, raises=TypeError, names="opt_d")],
    "gan.train_step_conditional": [bad(gan.train_step_conditional, *_cgan_pair(), IMG, torch.arange(3),
                                       names="labels"),
                                   bad(gan.train_step_conditional, *_cgan_pair(), IMG, torch.tensor([0, 1, 2, 10]),
                                       names="labels")],
    "gan.ema_copy": [bad(gan.ema_copy, "G", raises=TypeError, names="model")],
    "gan.ema_update": [bad(gan.ema_update, gan.Generator(), gan.Generator(hidden=32), names="architecture"),
                       bad(gan.ema_update, gan.Generator(), nn.Sequential(), names="architecture"),
                       bad(gan.ema_update, gan.Generator(), gan.Generator(), decay=1.0, names="decay")],
    "gan.refresh_batchnorm": [bad(gan.refresh_batchnorm, DC_G, device=CPU, batches=0, names="batches"),
                              bad(gan.refresh_batchnorm, _clf(), device=CPU, raises=TypeError, names="G")],
    "gan.sample": [bad(gan.sample, TOY_G, 0, device=CPU, names="n"),
                   bad(gan.sample, TOY_G, 3, device=CPU, z=torch.zeros(3, 5), names="z"),
                   bad(gan.sample, C_G, 2, device=CPU, labels=torch.tensor([1, 12]), names="labels"),
                   bad(gan.sample, C_G, 2, device=CPU, names="labels")],
    "gan.ring_of_gaussians": [bad(gan.ring_of_gaussians, 10, modes=0, names="modes"),
                              bad(gan.ring_of_gaussians, 10, std=-0.1, names="std"),
                              bad(gan.ring_of_gaussians, 2.5, raises=TypeError, names="n")],
    "gan.modes_covered": [bad(gan.modes_covered, RING[:0], CENTRES, names="points"),
                          bad(gan.modes_covered, RING, CENTRES[:, :1], names="width"),
                          bad(gan.modes_covered, RING, CENTRES, std=0.0, names="std"),
                          bad(gan.modes_covered, RING, CENTRES, min_share=0.0, names="min_share")],
    "gan.grad_reverse": [bad(gan.grad_reverse, X2, "a", raises=TypeError, names="scale"),
                         bad(gan.grad_reverse, X2, NAN, names="scale"),
                         bad(gan.grad_reverse, 1.0, raises=TypeError, names="x")],
    # --- kl
    "kl.entropy": [bad(kl.entropy, [0.5, 0.6], names="p"), bad(kl.entropy, "p", raises=TypeError, names="p:"),
                   bad(kl.entropy, P, validate="yes", raises=TypeError, names="validate")],
    "kl.cross_entropy": [bad(kl.cross_entropy, P, [1.0, 0.0, 0.0], names="p and q")],
    "kl.kl_divergence": [bad(kl.kl_divergence, P, [NAN, 1.0], names="q"),
                         bad(kl.kl_divergence, P, torch.tensor([1j, 0j]), raises=TypeError, names="q:"),
                         bad(kl.kl_divergence, P, torch.zeros(2, 0), names="q")],
    "kl.js_divergence": [bad(kl.js_divergence, [-0.5, 1.5], P, names="p")],
    "kl.gaussian_kl": [bad(kl.gaussian_kl, 0.0, -1.0, 0.0, 1.0, names="sigma_p"),
                       bad(kl.gaussian_kl, torch.zeros(3), 1.0, torch.zeros(2), 1.0, names="mu_p")],
    "kl.kl_to_standard_normal": [bad(kl.kl_to_standard_normal, torch.zeros(3), torch.zeros(2), names="logvar"),
                                 bad(kl.kl_to_standard_normal, [NAN], [0.0], names="mu")],
    # --- conv
    "conv.output_size": [bad(conv.output_size, 0, 3, names="W"), bad(conv.output_size, 5, 3.0, raises=TypeError,
                                                                     names="F"),
                         bad(conv.output_size, 5, 3, strict="no", raises=TypeError, names="strict"),
                         bad(conv.output_size, 3, 5, names="larger than the padded input"),
                         bad(conv.output_size, 7, 3, 0, 3, strict=True, names="drops input pixels.*pixels 6")],
    "conv.dropped_border": [bad(conv.dropped_border, 7, 3, 0, 0, names="S"),
                            bad(conv.dropped_border, 7, "3", raises=TypeError, names="F"),
                            bad(conv.dropped_border, 2, 5, names="larger than the padded input")],
    "conv.param_count": [bad(conv.param_count, 3, 3, -1, names="K"), bad(conv.param_count, 3, 0, 4, names="C_in"),
                         bad(conv.param_count, 3, 3, 4, bias=1, raises=TypeError, names="bias")],
    "conv.receptive_field": [bad(conv.receptive_field, [(3, 0)], names="s of layer 0"),
                             bad(conv.receptive_field, "33", raises=TypeError, names="layers")],
    "conv.summary": [bad(conv.summary, nn.Linear(2, 2), (2,), raises=TypeError, names="Sequential"),
                     bad(conv.summary, nn.Sequential(nn.Linear(2, 2)), (0,), names=r"input_shape\[0\]"),
                     bad(conv.summary, nn.Sequential(nn.Linear(2, 2)), (2,), device=0, raises=TypeError,
                         names="device")],
    "conv.from_spec": [bad(conv.from_spec, [("conv", 8, 3, 1)], (1, 8, 8), names=r"spec\[0\]"),
                       bad(conv.from_spec, [("conv", 8, -3, 1, 0)], (1, 8, 8), names=r"spec\[0\]\[2\]"),
                       bad(conv.from_spec, "conv", (1, 8, 8), raises=TypeError, names="spec"),
                       bad(conv.from_spec, [("fc", 10)], (1, 8), names="input_shape"),
                       bad(conv.from_spec, [("pool", 3, 3)], (1, 8, 8), strict=True, names="drops input pixels"),
                       bad(conv.from_spec, [("pool", 2, 2)], (1, 8, 8), strict=1, raises=TypeError, names="strict")],
    # --- optim (the classes check every hyper-parameter; torch.optim.Optimizer checks params)
    "optim.SGD": [bad(optim.SGD, _params(), lr=-0.1, names="lr"),
                  bad(optim.SGD, _params(), momentum="0.9", raises=TypeError, names="momentum"),
                  # deliberate: torch.optim.Optimizer.__init__ refuses an empty parameter list itself
                  bad(optim.SGD, [], names="parameter list", deep_ok=True)],
    "optim.AdaGrad": [bad(optim.AdaGrad, _params(), eps=0.0, names="eps")],
    "optim.RMSprop": [bad(optim.RMSprop, _params(), alpha=1.0, names="alpha"),
                      bad(optim.RMSprop, _params(), centered=1, raises=TypeError, names="centered")],
    "optim.Adadelta": [bad(optim.Adadelta, _params(), rho=INF, names="rho")],
    "optim.Adam": [bad(optim.Adam, _params(), betas=(0.9, 1.0), names=r"betas\[1\]"),
                   bad(optim.Adam, _params(), lr=NAN, names="lr"),
                   bad(optim.Adam, _params(), betas=0.9, raises=TypeError, names="betas")],
    # --- sample_quality
    "sample_quality.MNISTClassifier": [bad(sq.MNISTClassifier, feature_dim=0, names="feature_dim")],
    "sample_quality.MNISTClassifier.features": [bad(CLASSIFIER.features, IMG[:, 0], names="x")],
    "sample_quality.MNISTClassifier.forward": [bad(CLASSIFIER, IMG.numpy(), raises=TypeError, names="x")],
    "sample_quality.gaussian_frechet": [bad(sq.gaussian_frechet, [0.0], -np.eye(1), [0.0], np.eye(1),
                                            names="S1"),
                                        bad(sq.gaussian_frechet, [NAN], np.eye(1), [0.0], np.eye(1), names="mu1"),
                                        bad(sq.gaussian_frechet, np.zeros(0), np.zeros((0, 0)), np.zeros(0),
                                            np.zeros((0, 0)), names="mu1"),
                                        bad(sq.gaussian_frechet, ["a"], np.eye(1), [0.0], np.eye(1),
                                            raises=TypeError, names="mu1")],
    "sample_quality.frechet_rounding_bound": [bad(sq.frechet_rounding_bound, np.eye(2), np.eye(3), names="S1"),
                                              bad(sq.frechet_rounding_bound, np.eye(1) * NAN, np.eye(1), names="S1"),
                                              bad(sq.frechet_rounding_bound, np.eye(2), np.triu(np.ones((2, 2))),
                                                  names="S2"),
                                              bad(sq.frechet_rounding_bound, np.zeros((0, 0)), np.zeros((0, 0)),
                                                  names="S1"),
                                              bad(sq.frechet_rounding_bound, "S", np.eye(1), raises=TypeError,
                                                  names="S1")],
    "sample_quality.frechet_distance": [bad(sq.frechet_distance, X2, X2[:, :1], names=r"\(N, d\)"),
                                        bad(sq.frechet_distance, X2[:1], X2, names="2 rows"),
                                        bad(sq.frechet_distance, X2 * NAN, X2, names="feats_a")],
    "sample_quality.features": [bad(sq.features, CLASSIFIER, IMG_NAN, device=CPU, names="X"),
                                bad(sq.features, _clf(), IMG, device=CPU, raises=TypeError, names="classifier")],
    "sample_quality.sample_quality": [
        bad(sq.sample_quality, IMG[:, 0], CLASSIFIER, device=CPU, names="samples"),
        bad(sq.sample_quality, IMG, CLASSIFIER, device=CPU, labels=torch.arange(3), names="labels"),
        bad(sq.sample_quality, IMG, CLASSIFIER, device=CPU, min_share=2.0, names="min_share")],
    # --- metrics, data (data.py checks its own arguments)
    "metrics.record": [bad(metrics.record, 3, 1.0, raises=TypeError, names="key"),
                       bad(metrics.record, "a.b", True, raises=TypeError, names="a.b"),
                       bad(metrics.record, "a.b", NAN, names="a.b")],
    "data.fetch": [bad(data.fetch, "no/such/file", names="data file")],
    "data.load_mnist": [bad(data.load_mnist, "yes", raises=TypeError, names="train")],
    "data.urls": [bad(data.urls, "no/such/file", names="data file"),
                  bad(data.urls, 3, raises=TypeError, names="relpath")],
    # --- explain (the model is a small CNN on 28x28 images)
    "validate.frozen": [bad(lambda: validate.frozen("model").__enter__(), raises=TypeError, names="model"),
                        bad(lambda: validate.frozen(None).__enter__(), raises=TypeError, names="model")],
    "explain.activations": [bad(explain.activations, CNN, CNN[1], IMG_NAN, names="x"),
                            bad(explain.activations, CNN, CNN[1], EMPTY_IMG, names="x"),
                            bad(explain.activations, CNN, nn.ReLU(), IMG, names="layer"),
                            bad(explain.activations, CNN, CNN[1], IMG, batch_size=0, names="batch_size"),
                            bad(explain.activations, TWICE, TWICE[2], ADV_X, names="layer"),
                            bad(explain.activations, TUPLE_OUT, TUPLE_OUT.lstm, ADV_X, raises=TypeError, names="layer")],
    "explain.saliency": [bad(explain.saliency, CNN, IMG.tolist(), 0, raises=TypeError, names="x"),
                         bad(explain.saliency, CNN, IMG, 3, names="target"),
                         bad(explain.saliency, CNN, IMG, 0.5, raises=TypeError, names="target"),
                         bad(explain.saliency, CNN, IMG, [0, 1], names="target"),
                         bad(explain.saliency, CNN, IMG, "1", raises=TypeError, names="target")],
    "explain.occlusion": [bad(explain.occlusion, CNN, IMG, IMG_Y, patch=0, names="patch"),
                          bad(explain.occlusion, CNN, IMG, IMG_Y, stride=-2, names="stride"),
                          bad(explain.occlusion, CNN, IMG, -1, names="target"),
                          bad(explain.occlusion, CNN, IMG, 5, patch=14, stride=14, names="target"),
                          bad(explain.occlusion, CNN, IMG_NAN, IMG_Y, names="x")],
    "explain.activation_maximization": [
        bad(explain.activation_maximization, CNN, CNN[0], 0, steps=0, names="steps"),
        bad(explain.activation_maximization, CNN, CNN[0], 5, steps=1, names="channel"),
        bad(explain.activation_maximization, CNN, CNN[0], 0, steps=1, lr=NAN, names="lr"),
        bad(explain.activation_maximization, CNN, CNN[0], 0, steps=1, shape=(1, 0, 28), names=r"shape\[1\]"),
        bad(explain.activation_maximization, "model", CNN[0], 0, raises=TypeError, names="model"),
        bad(explain.activation_maximization, CNN, CNN[0], 0, steps=1, clamp=(1.0, 0.0), names="clamp"),
        bad(explain.activation_maximization, CNN, CNN[0], 0, steps=1, clamp=(NAN, 1.0), names=r"clamp\[0\]")],
    "explain.deletion_curve": [bad(explain.deletion_curve, CNN, IMG, IMG_Y, IMG[:2], names="ranking"),
                               bad(explain.deletion_curve, CNN, IMG, IMG_Y, IMG, steps=0, names="steps"),
                               bad(explain.deletion_curve, CNN, IMG, IMG_Y, IMG_NAN, names="ranking"),
                               bad(explain.deletion_curve, CNN, IMG, 7, IMG, steps=2, names="target"),
                               bad(explain.deletion_curve, CNN, IMG, IMG_Y, torch.ones_like(IMG), steps=2,
                                   names="ranking")],
    "explain.deletion_auc": [bad(explain.deletion_auc, CURVE[:, :1], names="curve"),
                             bad(explain.deletion_auc, CURVE + 1, names="curve"),
                             bad(explain.deletion_auc, CURVE[0], names="curve"),
                             bad(explain.deletion_auc, CURVE * NAN, names="curve"),
                             bad(explain.deletion_auc, CURVE.tolist(), raises=TypeError, names="curve")],
    "explain.gram_matrix": [bad(explain.gram_matrix, IMG[:, 0], names="features"),
                            bad(explain.gram_matrix, EMPTY_IMG, names="features"),
                            bad(explain.gram_matrix, IMG.long(), raises=TypeError, names="features")],
    # --- transfer
    "transfer.digit_subset": [bad(transfer.digit_subset, IMG, IMG_Y[:3], [0, 1], names="X and y"),
                              bad(transfer.digit_subset, IMG, IMG_Y, [1, 1], names="digits"),
                              bad(transfer.digit_subset, IMG, IMG_Y, [-1], names=r"digits\[0\]"),
                              bad(transfer.digit_subset, IMG, IMG_Y, 3, raises=TypeError, names="digits"),
                              bad(transfer.digit_subset, IMG, torch.tensor([0, -1, 1, 2]), [0, 1, 2], names="y")],
    "transfer.per_class_sample": [bad(transfer.per_class_sample, IMG_Y, 0, names="n_per_class"),
                                  bad(transfer.per_class_sample, IMG_Y, 3, names="n_per_class"),
                                  bad(transfer.per_class_sample, IMG_Y.float(), 1, raises=TypeError, names="y")],
    "transfer.make_model": [bad(transfer.make_model, 1, names="num_classes"),
                            bad(transfer.make_model, 3, CLASSIFIER, freeze_up_to=4, names="freeze_up_to"),
                            bad(transfer.make_model, 3, _clf(), raises=TypeError, names="pretrained"),
                            bad(transfer.make_model, 3.0, raises=TypeError, names="num_classes")],
    "transfer.make_optimizer": [bad(transfer.make_optimizer, TL_MODEL, 0.0, names="lr"),
                                bad(transfer.make_optimizer, TL_MODEL, 1e-3, body_lr=NAN, names="body_lr"),
                                bad(transfer.make_optimizer, _clf(), 1e-3, raises=TypeError, names="model")],
    "transfer.fit_steps": [
        bad(transfer.fit_steps, TL_MODEL, IMG, IMG_Y[:3], steps=1, batch_size=2, device=CPU,
            optimizer=transfer.make_optimizer(TL_MODEL, 1e-3), names="X has 4"),
        bad(transfer.fit_steps, TL_MODEL, IMG, IMG_Y, steps=0, batch_size=2, device=CPU,
            optimizer=transfer.make_optimizer(TL_MODEL, 1e-3), names="steps"),
        bad(transfer.fit_steps, TL_MODEL, IMG_NAN, IMG_Y, steps=1, batch_size=2, device=CPU,
            optimizer=transfer.make_optimizer(TL_MODEL, 1e-3), names="X"),
        bad(transfer.fit_steps, TL_MODEL, IMG, IMG_Y, steps=1, batch_size=2, device=CPU, optimizer="adam",
            raises=TypeError, names="optimizer")],
    "transfer.random_affine": [bad(transfer.random_affine, IMG[:, 0], names="x"),
                               bad(transfer.random_affine, IMG, max_degrees=-1.0, names="max_degrees"),
                               bad(transfer.random_affine, IMG, max_shift=NAN, names="max_shift"),
                               bad(transfer.random_affine, IMG.numpy(), raises=TypeError, names="x")],
    "transfer.add_noise": [bad(transfer.add_noise, IMG, -0.1, names="std"),
                           bad(transfer.add_noise, IMG, "0.1", raises=TypeError, names="std"),
                           bad(transfer.add_noise, IMG.tolist(), 0.1, raises=TypeError, names="x")],
    "transfer.rotate180": [bad(transfer.rotate180, IMG, p=1.5, names="p"),
                           bad(transfer.rotate180, IMG[0], names="x"),
                           bad(transfer.rotate180, IMG, p=NAN, names="p")],
    "transfer.balanced_pseudo_labels": [
        bad(transfer.balanced_pseudo_labels, torch.softmax(X2, 1), 0, names="per_class"),
        bad(transfer.balanced_pseudo_labels, torch.softmax(X2, 1), 1.5, raises=TypeError, names="per_class"),
        bad(transfer.balanced_pseudo_labels, torch.softmax(X2, 1)[:, 0], 2, names="probs"),
        bad(transfer.balanced_pseudo_labels, torch.softmax(X2, 1) * NAN, 2, names="probs"),
        bad(transfer.balanced_pseudo_labels, Y3[:, None], 2, raises=TypeError, names="probs")],
    "transfer.pseudo_labels": [bad(transfer.pseudo_labels, X2, 1.5, names="threshold"),
                               bad(transfer.pseudo_labels, X2[:, 0], 0.5, names="probs"),
                               bad(transfer.pseudo_labels, X2 * NAN, 0.5, names="probs"),
                               bad(transfer.pseudo_labels, Y3[:, None], 0.5, raises=TypeError, names="probs")],
    "transfer.confusion_rate": [bad(transfer.confusion_rate, Y3[:5], Y3, 0, 1, names="pred and y"),
                                bad(transfer.confusion_rate, Y3, Y3, 5, 7, names="class 5 or 7"),
                                bad(transfer.confusion_rate, Y3.float(), Y3, 0, 1, raises=TypeError, names="pred"),
                                bad(transfer.confusion_rate, Y3, Y3, 0.5, 1, raises=TypeError, names="a"),
                                bad(transfer.confusion_rate, Y3, Y3, 1, 1, names="a and b")],
    # --- word2vec (an unknown word is a KeyError naming it: see test_unknown_word_is_a_key_error_naming_it)
    "word2vec.build_vocab": [bad(w2v.build_vocab, [["a"]], min_count=0, names="min_count"),
                             bad(w2v.build_vocab, [["a"]], min_count=1.5, raises=TypeError, names="min_count"),
                             bad(w2v.build_vocab, "a b c", raises=TypeError, names="sentences"),
                             bad(w2v.build_vocab, ["a b", "c"], raises=TypeError, names=r"sentences\[0\]")],
    "word2vec.encode": [bad(w2v.encode, [["a"]], ["a"], raises=TypeError, names="vocab"),
                        bad(w2v.encode, "a b", W2V_VOCAB, raises=TypeError, names="sentences")],
    "word2vec.keep_probability": [bad(w2v.keep_probability, W2V_COUNTS, sample=0.0, names="sample"),
                                  bad(w2v.keep_probability, np.array([]), names="counts"),
                                  bad(w2v.keep_probability, np.array([3, -1]), names="counts"),
                                  bad(w2v.keep_probability, "counts", raises=TypeError, names="counts")],
    "word2vec.noise_distribution": [bad(w2v.noise_distribution, np.zeros(3), names="counts"),
                                    bad(w2v.noise_distribution, W2V_COUNTS, power=NAN, names="power"),
                                    bad(w2v.noise_distribution, np.array([1.0, NAN]), names="counts"),
                                    bad(w2v.noise_distribution, np.array([3, 0]), power=-0.5, names="power")],
    "word2vec.skipgram_pairs": [bad(w2v.skipgram_pairs, W2V_IDS, W2V_SENT, 0, names="window"),
                                bad(w2v.skipgram_pairs, W2V_IDS[:3], torch.tensor([0, 1, 0]), 2, names="sentence"),
                                bad(w2v.skipgram_pairs, W2V_IDS, W2V_SENT, 2, generator=0, raises=TypeError,
                                    names="generator"),
                                bad(w2v.skipgram_pairs, W2V_IDS, W2V_SENT[:3], 2, names="sentence"),
                                bad(w2v.skipgram_pairs, W2V_IDS.float(), W2V_SENT, 2, raises=TypeError, names="ids"),
                                bad(w2v.skipgram_pairs, W2V_IDS, W2V_SENT, True, raises=TypeError, names="window")],
    "word2vec.SkipGramNS": [bad(w2v.SkipGramNS, 0, names="vocab_size"),
                            bad(w2v.SkipGramNS, 5, dim=2.5, raises=TypeError, names="dim")],
    "word2vec.SkipGramNS.forward": [bad(SG, torch.tensor([0, 5]), B2, NEG, names="centre"),
                                    bad(SG, B2, B2[:1], NEG, names="context"),
                                    bad(SG, B2, B2, NEG[:, 0], names="negatives"),
                                    bad(SG, B2.float(), B2, NEG, raises=TypeError, names="centre")],
    "word2vec.CBOWNS": [bad(w2v.CBOWNS, -1, names="vocab_size"),
                        bad(w2v.CBOWNS, 5, dim=0, names="dim")],
    "word2vec.CBOWNS.forward": [bad(CBOW, torch.tensor([1, 2, 3]), torch.tensor([0, 2]), B2, NEG + 5, names="negatives"),
                                bad(CBOW, torch.tensor([1, 2, 9]), torch.tensor([0, 2]), B2, NEG, names="context"),
                                bad(CBOW, torch.tensor([1, 2, 3]), torch.tensor([0, 7]), B2, NEG, names="offsets"),
                                bad(CBOW, torch.tensor([1, 2, 3]), torch.tensor([0, 2]), B2, NEG[:1],
                                    names="negatives"),
                                bad(CBOW, torch.tensor([1, 2, 3, 4]), torch.tensor([0, 3, 1]), torch.tensor([0, 1, 2]),
                                    torch.tensor([[1], [2], [3]]), names="offsets")],
    "word2vec.train": [bad(w2v.train, SG, W2V_IDS, W2V_SENT, W2V_COUNTS, device=CPU, epochs=0, names="epochs"),
                       bad(w2v.train, SG, W2V_IDS, W2V_SENT, W2V_COUNTS[:3], device=CPU, progress=False,
                           names="counts"),
                       bad(w2v.train, SG, W2V_IDS + 5, W2V_SENT, W2V_COUNTS, device=CPU, names="ids"),
                       bad(w2v.train, SG, W2V_IDS, W2V_SENT, W2V_COUNTS, device=CPU, lr=-0.1, names="lr"),
                       bad(w2v.train, _clf(), W2V_IDS, W2V_SENT, W2V_COUNTS, device=CPU, raises=TypeError,
                           names="model"),
                       bad(w2v.train, SG, W2V_IDS, torch.arange(6), W2V_COUNTS, device=CPU, progress=False,
                           names="pair"),
                       bad(w2v.train, SG, W2V_IDS, W2V_SENT, W2V_COUNTS, device="cuda:99", progress=False,
                           names="device")],
    "word2vec.most_similar": [bad(w2v.most_similar, W2V_VECS, W2V_VOCAB, "a", k=0, names="k"),
                              bad(w2v.most_similar, W2V_VECS, {**W2V_VOCAB, "e": 9}, "a", names="vocab"),
                              bad(w2v.most_similar, W2V_VECS[0], W2V_VOCAB, "a", names="vectors"),
                              bad(w2v.most_similar, W2V_VECS * NAN, W2V_VOCAB, "a", names="vectors"),
                              bad(w2v.most_similar, W2V_VECS, W2V_VOCAB, 3, raises=TypeError, names="word")],
    "word2vec.analogy": [bad(w2v.analogy, W2V_VECS, W2V_VOCAB, "a", "b", "c", k=-1, names="k"),
                         bad(w2v.analogy, W2V_VECS[:3], W2V_VOCAB, "a", "b", "c", names="vectors"),
                         bad(w2v.analogy, W2V_VECS.tolist(), W2V_VOCAB, "a", "b", "c", raises=TypeError,
                             names="vectors")],
    "word2vec.analogy_coverage": [bad(w2v.analogy_coverage, W2V_VOCAB, [("a", "b", "c")], names=r"questions\[0\]"),
                                  bad(w2v.analogy_coverage, W2V_VOCAB, [3], raises=TypeError, names=r"questions\[0\]"),
                                  bad(w2v.analogy_coverage, ["a"], [("a", "b", "c", "d")], raises=TypeError,
                                      names="vocab"),
                                  bad(w2v.analogy_coverage, W2V_VOCAB, "abcd", raises=TypeError, names="questions")],
    "word2vec.evaluate_analogies": [
        bad(w2v.evaluate_analogies, W2V_VECS, W2V_VOCAB, [("x", "y", "z", "w")], names="questions"),
        bad(w2v.evaluate_analogies, W2V_VECS, W2V_VOCAB, [("a", "b")], names=r"questions\[0\]"),
        bad(w2v.evaluate_analogies, W2V_VECS[:4], W2V_VOCAB, [("a", "b", "c", "d")], names="vectors"),
        bad(w2v.evaluate_analogies, W2V_VECS * INF, W2V_VOCAB, [("a", "b", "c", "d")], names="vectors")],
    "word2vec.wordsim_spearman": [
        bad(w2v.wordsim_spearman, W2V_VECS, W2V_VOCAB, [("a", "b", 1.0)], names="pairs"),
        bad(w2v.wordsim_spearman, W2V_VECS, W2V_VOCAB, [("a", "b", NAN)] * 3, names=r"pairs\[0\]"),
        bad(w2v.wordsim_spearman, W2V_VECS, W2V_VOCAB, [("a", "b")], names=r"pairs\[0\]"),
        bad(w2v.wordsim_spearman, W2V_VECS, W2V_VOCAB, "ab", raises=TypeError, names="pairs"),
        bad(w2v.wordsim_spearman, torch.ones(5, 3), W2V_VOCAB, [("a", "b", 1.0), ("b", "c", 2.0), ("c", "d", 3.0)],
            names="vectors"),
        bad(w2v.wordsim_spearman, W2V_VECS, W2V_VOCAB, [("a", "b", 1.0), ("b", "c", 1.0), ("c", "d", 1.0)],
            names="pairs")],
    # --- validate (the checks themselves)
    "validate.integer": [bad(validate.integer, "k", True, raises=TypeError, names="k"),
                         bad(validate.integer, "k", 5, maximum=4, names="k")],
    "validate.positive_int": [bad(validate.positive_int, "n", 0, names="n")],
    "validate.number": [bad(validate.number, "lr", NAN, names="lr"),
                        bad(validate.number, "lr", "1", raises=TypeError, names="lr")],
    "validate.probability": [bad(validate.probability, "p", 1.5, names="p")],
    "validate.flag": [bad(validate.flag, "shuffle", 1, raises=TypeError, names="shuffle")],
    "validate.choice": [bad(validate.choice, "metric", "x", ("a", "b"), names="metric")],
    "validate.tensor": [bad(validate.tensor, "X", X2, ndim=3, names="X"),
                        bad(validate.tensor, "X", X2 * INF, names="X")],
    "validate.same_length": [bad(validate.same_length, X=X2, y=Y3[:2], names="X has 6")],
    "validate.labels": [bad(validate.labels, "y", Y3, 2, names="y")],
    "validate.module": [bad(validate.module, "model", 3, raises=TypeError, names="model")],
    "validate.device": [bad(validate.device, "device", "gpu", names="device"),
                        bad(validate.device, "device", "cuda:99", names="device")],
    "validate.evaluating": [bad(lambda: validate.evaluating(_clf(), "nowhere").__enter__(), names="device"),
                            bad(lambda: validate.evaluating("model", CPU).__enter__(), raises=TypeError,
                                names="model")],
    "validate.batched": [bad(validate.batched, _clf(), X2, device=CPU, batch_size=0, names="batch_size"),
                         bad(validate.batched, _clf(), X2.tolist(), device=CPU, raises=TypeError, names="X"),
                         bad(validate.batched, _clf().double(), X2, device=CPU, raises=TypeError, names="X")],
    "validate.generator": [bad(validate.generator, "generator", 0, raises=TypeError, names="generator")],
    "validate.pixels": [bad(validate.pixels, "x", IMG * 255, names="x"), bad(validate.pixels, "x", IMG - 0.5, names="x")],
    "validate.probabilities": [bad(validate.probabilities, "probs", X2, names="probs")],
    "validate.logits": [bad(validate.logits, "model", X2.softmax(-1), names="model")],
    "validate.input_dtype": [bad(validate.input_dtype, "x", X2, _clf().double(), raises=TypeError, names="x")],
    "validate.num_outputs": [bad(validate.num_outputs, "model", X2, raises=TypeError, names="model"),
                             bad(validate.num_outputs, _clf(), X2[:0], names="x")],
    "validate.class_labels": [bad(validate.class_labels, "y", torch.tensor([0, 3]), _clf(), X2[:2], names="y"),
                              bad(validate.class_labels, "y", torch.tensor([0, -100]), _clf(), X2[:2], names="y")],
    "validate.optimizer": [bad(validate.optimizer, "optimizer", torch.optim.SGD(_clf().parameters(), lr=0.1), _clf(),
                               names="optimizer"),
                           bad(validate.optimizer, "optimizer", "adam", _clf(), raises=TypeError, names="optimizer")],
    "validate.right_padded": [bad(validate.right_padded, "ids", torch.tensor([[0, 0, 5]]), 0, names="ids"),
                              bad(validate.right_padded, "ids", torch.tensor([[5, 0, 7]]), 0, names="ids")],
    # --- book, interactive
    "book.evidence": [bad(book.evidence, 3, raises=TypeError, names="evidence name"),
                      bad(book.evidence, "../etc", names="evidence name"),
                      bad(book.evidence, "no_such_topic", names="no evidence named")],
    "book.glue": [bad(book.glue, "two words", 1.0, names="glue name"),
                  bad(book.glue, 3, 1.0, raises=TypeError, names="glue name"),
                  bad(book.glue, "x", NAN, names="'x'"), bad(book.glue, "x", -INF, names="'x'")],
    "interactive.explore": [bad(interactive.explore, "plot", a=[1], raises=TypeError, names="draw"),
                            bad(interactive.explore, _figure, static=True, names="parameter grid"),
                            bad(interactive.explore, _figure, static=True, a=[], names="'a'"),
                            bad(interactive.explore, _figure, static=True, a=3, raises=TypeError, names="'a'"),
                            bad(interactive.explore, _figure, static=True, dpi=0, a=[1], names="dpi"),
                            bad(interactive.explore, _figure, static=True, dpi=1.5, a=[1], raises=TypeError, names="dpi"),
                            bad(interactive.explore, _figure, static="yes", a=[1], raises=TypeError, names="static")],
    "interactive.load_quiz": [bad(interactive.load_quiz, "../etc", names="quiz name"),
                              bad(interactive.load_quiz, 3, raises=TypeError, names="quiz name"),
                              bad(interactive.load_quiz, "vae", [1], raises=TypeError, names="quiz values"),
                              bad(interactive.load_quiz, "no_such_chapter", names="no quiz named")],
    # a number is the wrong type for a quiz name: TypeError (the battery asserted ValueError before issue 27)
    "interactive.quiz": [bad(interactive.quiz, 3, raises=TypeError, names="quiz name"),
                         bad(interactive.quiz, "no_such_chapter", names="no quiz named")],
    # --- rnn
    "rnn.tokenize": [bad(rnn.tokenize, 3, raises=TypeError, names="text")],
    "rnn.RNNCell": [bad(rnn.RNNCell, 0, 3, names="input_size"), bad(rnn.RNNCell, 3, 2.5, raises=TypeError,
                                                                      names="hidden_size")],
    "rnn.RNNCell.forward": [bad(RNN_CELL, torch.zeros(2, 4), names="x"), bad(RNN_CELL, torch.zeros(0, 3), names="x"),
                            bad(RNN_CELL, [[0.0] * 3], raises=TypeError, names="x"),
                            bad(RNN_CELL, torch.zeros(2, 3), torch.zeros(3, 5), names="h")],
    "rnn.LSTMCell": [bad(rnn.LSTMCell, 3, 0, names="hidden_size")],
    "rnn.LSTMCell.forward": [bad(LSTM_CELL, torch.zeros(2, 4), names="x"),
                             bad(LSTM_CELL, torch.zeros(2, 3), torch.zeros(2, 5), raises=TypeError, names="pair")],
    "rnn.Vocab": [bad(rnn.Vocab, "a text", raises=TypeError, names="texts"),
                  bad(rnn.Vocab, None, raises=TypeError, names="texts"),
                  bad(rnn.Vocab, ["a"], min_count=1.5, raises=TypeError, names="min_count"),
                  bad(rnn.Vocab, ["a b"], min_count=0, names="min_count")],
    "rnn.Vocab.encode": [bad(VOCAB.encode, 3, raises=TypeError, names="text")],
    "rnn.Vocab.decode": [bad(VOCAB.decode, [999], names="out of range"),
                         bad(VOCAB.decode, [1.5], raises=TypeError, names="ids")],
    "rnn.pad_batch": [bad(rnn.pad_batch, [], names="seqs"), bad(rnn.pad_batch, [[1], []], names="sequence 1"),
                      bad(rnn.pad_batch, [[1.0, 2.0]], raises=TypeError, names=r"seqs\[0\]"),
                      bad(rnn.pad_batch, [[1]], pad_id=1.5, raises=TypeError, names="pad_id"),
                      bad(rnn.pad_batch, [[1]], pad_id=True, raises=TypeError, names="pad_id"),
                      bad(rnn.pad_batch, [[1]], max_len=1.5, raises=TypeError, names="max_len"),
                      bad(rnn.pad_batch, "12", raises=TypeError, names="seqs"),
                      bad(rnn.pad_batch, [[1]], max_len=0, names="max_len")],
    "rnn.RecurrentClassifier": [bad(rnn.RecurrentClassifier, 10, kind="transformer", names="kind"),
                                bad(rnn.RecurrentClassifier, 10, kind=["lstm"], raises=TypeError, names="kind"),
                                bad(rnn.RecurrentClassifier, 10, hidden_size=True, raises=TypeError, names="hidden_size"),
                                bad(rnn.RecurrentClassifier, 10, pad_id=0.5, raises=TypeError, names="pad_id"),
                                bad(rnn.RecurrentClassifier, 10, pad_id=VOCAB.unk_id, names="pad_id"),
                                bad(rnn.RecurrentClassifier, VOCAB, pad_id=2, names="pad_id"),
                                bad(rnn.RecurrentClassifier, 10, dropout=1.0, names="dropout"),
                                bad(rnn.RecurrentClassifier, 0, names="vocab_size")],
    "rnn.RecurrentClassifier.forward": [bad(SEQ_CLF, torch.tensor([[2, 99]]), names="out of range"),
                                        bad(SEQ_CLF, torch.zeros(2, 3), raises=TypeError, names="ids"),
                                        bad(SEQ_CLF, torch.zeros(2, 3, dtype=torch.long), names="padding"),
                                        bad(SEQ_CLF, torch.zeros(0, 3, dtype=torch.long), names="ids")],
    # --- adversarial
    "adversarial.fgsm": [bad(adversarial.fgsm, ADV_MODEL, ADV_X, ADV_Y, -0.1, names="eps"),
                         bad(adversarial.fgsm, ADV_MODEL, ADV_X, ADV_Y, "0.1", raises=TypeError, names="eps"),
                         bad(adversarial.fgsm, ADV_MODEL, ADV_X * NAN, ADV_Y, 0.1, names="x"),
                         bad(adversarial.fgsm, ADV_MODEL, ADV_X, ADV_Y[:2], 0.1, names="y")],
    "adversarial.pgd": [bad(adversarial.pgd, ADV_MODEL, ADV_X, ADV_Y, 0.1, -0.01, 5, names="alpha"),
                        bad(adversarial.pgd, ADV_MODEL, ADV_X, ADV_Y, INF, 0.01, 5, names="eps"),
                        bad(adversarial.pgd, ADV_MODEL, ADV_X, ADV_Y, 0.1, 0.01, 5, early_stop=1, raises=TypeError,
                            names="early_stop"),
                        bad(adversarial.pgd, ADV_MODEL, ADV_X, ADV_Y, 0.1, 0.01, 5, random_start="no", raises=TypeError,
                            names="random_start"),
                        bad(adversarial.pgd, ADV_MODEL, ADV_X, ADV_Y, 0.1, 0.01, "20", raises=TypeError, names="steps"),
                        bad(adversarial.pgd, ADV_MODEL, ADV_X, ADV_Y, 0.1, 0.01, 5, generator=0, raises=TypeError,
                            names="generator"),
                        bad(adversarial.pgd, ADV_MODEL, ADV_X[:0], ADV_Y[:0], 0.1, 0.01, 5, names="x")],
    "adversarial.targeted": [bad(adversarial.targeted, ADV_MODEL, ADV_X, torch.tensor([0, 1]), names="target"),
                             bad(adversarial.targeted, ADV_MODEL, ADV_X, 3, eps=-1.0, names="eps"),
                             bad(adversarial.targeted, ADV_MODEL, ADV_X, 3, early_stop="yes", raises=TypeError,
                                 names="early_stop")],
    "adversarial.accuracy_under_attack": [
        bad(adversarial.accuracy_under_attack, ADV_MODEL, ADV_X, ADV_Y, "fgsm", 0.1, raises=TypeError, names="attack"),
        bad(adversarial.accuracy_under_attack, ADV_MODEL, ADV_X, ADV_Y, adversarial.fgsm, 0.1, batch_size=0,
            names="batch_size"),
        bad(adversarial.accuracy_under_attack, ADV_MODEL, ADV_X[:0], ADV_Y[:0], adversarial.fgsm, 0.1, names="x"),
        bad(adversarial.accuracy_under_attack, ADV_MODEL, ADV_X, ADV_Y, adversarial.fgsm, 0.1, batch_size=2.0,
            raises=TypeError, names="batch_size"),
        bad(adversarial.accuracy_under_attack, ADV_MODEL, ADV_X, ADV_Y, adversarial.fgsm, 0.1, device="nowhere",
            names="device"),
        bad(adversarial.accuracy_under_attack, ADV_MODEL, ADV_X, ADV_Y, lambda m, x, y, e: (x + 2 * e).clamp(0, 1) * 0.5,
            0.1, names="attack")],
    "adversarial.pgd_l2": [bad(adversarial.pgd_l2, ADV_MODEL, ADV_X, ADV_Y, -1.0, names="eps"),
                           bad(adversarial.pgd_l2, ADV_MODEL, ADV_X, ADV_Y, torch.ones(3), names="eps"),
                           bad(adversarial.pgd_l2, ADV_MODEL, ADV_X, ADV_Y, 1.0, steps=-1, names="steps"),
                           bad(adversarial.pgd_l2, ADV_MODEL, ADV_X, ADV_Y, 1.0, targeted="yes", raises=TypeError,
                               names="targeted")],
    "adversarial.cw_l2": [bad(adversarial.cw_l2, ADV_MODEL, ADV_X, ADV_Y, c=0.0, names="c"),
                          bad(adversarial.cw_l2, ADV_MODEL, ADV_X, ADV_Y, kappa=-1.0, names="kappa"),
                          bad(adversarial.cw_l2, ADV_MODEL, ADV_X, ADV_Y, steps=0, names="steps"),
                          bad(adversarial.cw_l2, ADV_MODEL, ADV_X, ADV_Y, search_steps=1.5, raises=TypeError,
                              names="search_steps"),
                          bad(adversarial.cw_l2, ADV_MODEL, ADV_X, torch.tensor([0, 1, 2, 5]), names="target"),
                          bad(adversarial.cw_l2, ADV_MODEL, ADV_X * NAN, ADV_Y, names="x")],
    "adversarial.project": [bad(adversarial.project, ADV_X, ADV_X[:2], 0.1, names="x_adv and x"),
                            bad(adversarial.project, ADV_X, ADV_X, -0.1, names="eps")],
    # --- the VAE chapter's binarization and importance-weighted estimate, the GAN chapter's ring diagnostics
    "autoencoders.binarize": [bad(ae.binarize, IMG * 2, 0, names="grey levels"),
                              bad(ae.binarize, IMG, 0.5, raises=TypeError, names="seed"),
                              bad(ae.binarize, IMG.long(), 0, raises=TypeError, names="X")],
    "autoencoders.importance_weighted_nll": [
        bad(ae.importance_weighted_nll, ae.VAE(), IMG, k=0, device=CPU, names="k"),
        bad(ae.importance_weighted_nll, ae.VAE(), EMPTY_IMG, k=5, device=CPU, names="X"),
        bad(ae.importance_weighted_nll, _clf(), IMG, k=5, device=CPU, raises=TypeError, names="model"),
        bad(ae.importance_weighted_nll, ae.VAE(), IMG, k=5, device="gpu", names="device")],
    "gan.ring_diagnostics": [bad(gan.ring_diagnostics, torch.zeros(0, 2), RING_CENTRES, names="points"),
                             bad(gan.ring_diagnostics, torch.zeros(5, 3), RING_CENTRES, names="points"),
                             bad(gan.ring_diagnostics, torch.zeros(5, 2), RING_CENTRES[:1], names="centres"),
                             bad(gan.ring_diagnostics, torch.zeros(5, 2), RING_CENTRES, min_share=0.0,
                                 names="min_share")],
    # --- layers
    "layers.MaxPool2d": [bad(layers.MaxPool2d, 0, names="kernel_size"),
                         bad(layers.MaxPool2d, 2.0, raises=TypeError, names="kernel_size"),
                         bad(layers.MaxPool2d, 2, stride=0, names="stride"),
                         bad(layers.MaxPool2d, 2, padding=2, names="padding"),
                         bad(layers.MaxPool2d, (2, 2, 2), raises=TypeError, names="kernel_size"),
                         bad(layers.MaxPool2d, 2, ceil_mode=1, raises=TypeError, names="ceil_mode")],
    "layers.MaxPool2d.forward": [bad(layers.MaxPool2d(2), torch.zeros(4, 4), names="x"),
                                 bad(layers.MaxPool2d(2), torch.zeros(1, 1, 4, 4, dtype=torch.long), raises=TypeError,
                                     names="x"),
                                 bad(layers.MaxPool2d(2), IMG.numpy(), raises=TypeError, names="x")],
    # --- the model cache
    "zoo.get": [bad(zoo.get, "mnist_cnn", seed=0, device=CPU, names="name"),
                bad(zoo.get, "mnist_judge", seed=-1, device=CPU, names="seed"),
                bad(zoo.get, "mnist_judge", seed=1.5, device=CPU, raises=TypeError, names="seed"),
                bad(zoo.get, "mnist_judge", seed=0, device="gpu", names="device"),
                bad(zoo.get, "mnist_judge", seed=0, device=CPU, retrain="yes", raises=TypeError, names="retrain")],
    "zoo.recipe_key": [bad(zoo.recipe_key, 3, 0, CPU, raises=TypeError, names="name"),
                       bad(zoo.recipe_key, "mnist_judge", 2**32, CPU, names="seed")],
}

# Public callables that take arguments but need no bad-input cases, with the reason.
EXEMPT = {
    "conv.Summary": "a frozen dataclass of LayerRows that conv.summary builds; not called with user input",
    "conv.LayerRow": "a frozen dataclass record that conv.summary builds; not called with user input",
    "data.RemoteFile": "a record of a dataset file's URL and checksum, built in data.py's own table",
    "data.DataError": "an exception class; its argument is the message",
}


def _public_callables() -> dict[str, Any]:
    """Every public callable of dlext: module-level functions and classes, and classes' public methods."""
    modules = [dlext] + [import_module(f"dlext.{m.name}") for m in pkgutil.iter_modules(dlext.__path__)
                         if not m.ispkg]
    found: dict[str, Any] = {}
    for module in modules:
        prefix = "dlext" if module is dlext else module.__name__.removeprefix("dlext.")
        names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            if not callable(obj) or not getattr(obj, "__module__", "").startswith("dlext"):
                continue  # constants (conv.ALEXNET), imported names (torch, Tensor)
            found[f"{prefix}.{name}"] = obj
            if inspect.isclass(obj):
                for attr, fn in vars(obj).items():
                    # defined in this class (torch's LR schedulers patch a wrapped step onto optimizer classes)
                    own = getattr(fn, "__qualname__", "") == f"{obj.__name__}.{attr}"
                    if inspect.isfunction(fn) and own and (not attr.startswith("_") or attr == "forward"):
                        found[f"{prefix}.{name}.{attr}"] = fn
    return found


def _takes_arguments(key: str, obj: Any) -> bool:
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return True
    if key.count(".") == 2:  # a method: self does not count
        params = params[1:]
    return bool(params)


def test_every_public_callable_has_an_entry(record_property):
    public = _public_callables()
    no_args = sorted(k for k, obj in public.items() if not _takes_arguments(k, obj))
    missing = sorted(k for k in public if k not in CASES and k not in EXEMPT and k not in no_args)
    stale = sorted(k for k in [*CASES, *EXEMPT] if k not in public)
    covered = [k for k in public if k in CASES]
    # tests/conftest.py prints this line at the end of the run (also under pytest-xdist)
    record_property("bad_input_battery", f"bad-input battery: {len(public)} public callables of dlext; {len(covered)} covered by "
                  f"{sum(len(CASES[k]) for k in covered)} bad calls; {len(no_args)} take no arguments "
                  f"({', '.join(no_args)}); {len(EXEMPT)} exempt ({', '.join(EXEMPT)}); "
                  f"subpackages walked elsewhere: {', '.join(SUBPACKAGES)}"
                    + (f"; MISSING ENTRIES: {', '.join(missing)}" if missing else ""))
    assert not missing, (f"public callables without bad-input cases: {missing}; add an entry to CASES in "
                         "tests/test_bad_input.py (see CONTRIBUTING.md)")
    assert not stale, f"entries for names that are not public callables of dlext (renamed?): {stale}"
    assert {m for m in SUBPACKAGES} == {f"dlext.{m.name}" for m in pkgutil.iter_modules(dlext.__path__) if m.ispkg}


@contextmanager
def _deadline(seconds: int):
    """Fail a call that hangs (SIGALRM, main thread); pytest-timeout's own alarm is put back afterwards."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")
    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    old_left, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_left:  # re-arm the outer timer with what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(old_left - (time.monotonic() - start), 1e-3))


@pytest.mark.parametrize("key, i", [(k, i) for k, cases in CASES.items() for i in range(len(cases))],
                         ids=[f"{k}-{i}" for k, cases in CASES.items() for i in range(len(cases))])
def test_bad_input_is_refused_with_a_clear_error(key, i):
    case = CASES[key][i]
    with _deadline(TIMEOUT_S):
        with pytest.raises((TypeError, ValueError)) as info:
            result = case.call()
            pytest.fail(f"{key} returned {result!r:.200} instead of raising")  # noqa: B023
    err = info.value
    assert isinstance(err, case.error), f"{key}: expected {case.error.__name__}, got {type(err).__name__}: {err}"
    assert re.search(case.names, str(err)), f"{key}: the message should name {case.names!r}: {err}"
    if not case.deep_ok:
        origin = str(Path(info.traceback[-1].path).resolve())
        assert origin.startswith(DLEXT_DIR), f"{key}: raised from {origin}, not by dlext's own checks: {err}"


@pytest.mark.parametrize("call", [lambda: w2v.most_similar(W2V_VECS, W2V_VOCAB, "zebra"),
                                  lambda: w2v.analogy(W2V_VECS, W2V_VOCAB, "a", "zebra", "c")])
def test_unknown_word_is_a_key_error_naming_it(call):
    """Documented exception to the TypeError/ValueError convention (issue 13): a word missing from the
    vocabulary is a KeyError, as a dict lookup would give, and its message names the word."""
    with pytest.raises(KeyError, match="zebra"):
        call()


# --- Relative checks (issue 27) ---------------------------------------------------------------------
# The cases above spoil one argument at a time. These spoil an argument only *relative* to the model, the
# data or another argument, by design: each table maps a public callable to a call taking the one input to
# spoil, and the test feeds it the spoiled kinds listed with the table. ``test_relative_tables_cover_...``
# finds the callables whose signature takes such a pair (a model and labels, an optimizer, images, ...) and
# fails if one is in no table and not in RELATIVE_EXEMPT, so a new function cannot skip these checks.
# The checks themselves live in dlext.validate (class_labels/labels, pixels, probabilities, logits,
# optimizer, right_padded, input_dtype).

ADV3 = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))  # 3 classes, images (B, 1, 4, 4)
X3, Y3_IMG = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
TL3 = transfer.make_model(3)

# f(y) with labels y for a model with 3 outputs; called with 3 (= C), 7, -1 and -100 (cross-entropy's ignore index)
LABELS_VS_MODEL: dict[str, Callable[[torch.Tensor], Any]] = {
    "adversarial.fgsm": lambda y: adversarial.fgsm(ADV3, X3, y, 0.1),
    "adversarial.pgd": lambda y: adversarial.pgd(ADV3, X3, y, 0.1, 0.05, 2),
    "adversarial.pgd_l2": lambda y: adversarial.pgd_l2(ADV3, X3, y, 1.0, steps=2),
    "adversarial.cw_l2": lambda y: adversarial.cw_l2(ADV3, X3, y, steps=2, search_steps=1),
    "adversarial.targeted": lambda y: adversarial.targeted(ADV3, X3, y, steps=2),
    "adversarial.accuracy_under_attack": lambda y: adversarial.accuracy_under_attack(ADV3, X3, y, adversarial.fgsm, 0.0),
    "train.train_classifier": lambda y: train.train_classifier(_clf(), X2[:4], y, device=CPU, progress=False),
    "train.accuracy": lambda y: train.accuracy(_clf(), X2[:4], y, device=CPU),
    "transfer.fit_steps": lambda y: transfer.fit_steps(TL3, IMG, y, steps=1, batch_size=2, device=CPU,
                                                       optimizer=transfer.make_optimizer(TL3, 1e-3)),
    "explain.saliency": lambda y: explain.saliency(CNN, IMG, y),
    "explain.occlusion": lambda y: explain.occlusion(CNN, IMG, y, patch=14, stride=14),
    "explain.deletion_curve": lambda y: explain.deletion_curve(CNN, IMG, y, torch.rand(IMG.shape), steps=2),
    "sample_quality.sample_quality": lambda y: sq.sample_quality(IMG, CLASSIFIER, device=CPU,
                                                                 labels=torch.where(y >= 3, y + 7, y)),  # 10 classes
    "validate.class_labels": lambda y: validate.class_labels("y", y, _clf(), X2[:4]),
}

# f(x) with images that must lie in [0, 1]; called with 0..255 and with normalized ([-1, 1]) images
PIXELS: dict[str, Callable[[torch.Tensor], Any]] = {
    "adversarial.fgsm": lambda x: adversarial.fgsm(ADV3, x, Y3_IMG, 0.1),
    "adversarial.pgd": lambda x: adversarial.pgd(ADV3, x, Y3_IMG, 0.1, 0.05, 2),
    "adversarial.pgd_l2": lambda x: adversarial.pgd_l2(ADV3, x, Y3_IMG, 1.0, steps=2),
    "adversarial.cw_l2": lambda x: adversarial.cw_l2(ADV3, x, Y3_IMG, steps=2, search_steps=1),
    "adversarial.targeted": lambda x: adversarial.targeted(ADV3, x, 1, steps=2),
    "adversarial.accuracy_under_attack": lambda x: adversarial.accuracy_under_attack(ADV3, x, Y3_IMG, adversarial.fgsm, 0.1),
    "transfer.add_noise": lambda x: transfer.add_noise(x, 0.1),
    "sample_quality.sample_quality": lambda x: sq.sample_quality(x.expand(4, 1, 4, 4).repeat(1, 1, 7, 7), CLASSIFIER,
                                                                 device=CPU),
    "validate.pixels": lambda x: validate.pixels("x", x),
}

# f(p) with class probabilities (N, C); called with logits
PROBABILITIES: dict[str, Callable[[torch.Tensor], Any]] = {
    "transfer.pseudo_labels": lambda p: transfer.pseudo_labels(p, 0.5),
    "transfer.balanced_pseudo_labels": lambda p: transfer.balanced_pseudo_labels(p, 2),
    "explain.deletion_auc": lambda p: explain.deletion_auc(p),
    "validate.probabilities": lambda p: validate.probabilities("probs", p),
}

# f(model) for a function that applies softmax to the model's outputs itself; called with a model that
# already ends in softmax (the model's first argument name is what the message must say)
LOGITS: dict[str, Callable[[nn.Module], Any]] = {
    "explain.occlusion": lambda m: explain.occlusion(m, IMG, IMG_Y, patch=14, stride=14),
    "explain.deletion_curve": lambda m: explain.deletion_curve(m, IMG, IMG_Y, torch.rand(IMG.shape), steps=2),
    "train.predict_proba": lambda m: train.predict_proba(m, IMG, device=CPU),
    "train.accuracy": lambda m: train.accuracy(m, IMG, IMG_Y, device=CPU),
}

# f(model, optimizer); called with an optimizer over another model's parameters
OPTIMIZER_VS_MODEL: dict[str, Callable[[nn.Module, torch.optim.Optimizer], Any]] = {
    "train.fit": lambda m, opt: train.fit(m, 4, lambda idx: m(IMG[idx]).sum(), optimizer=opt, progress=False),
    "train.train_classifier": lambda m, opt: train.train_classifier(m, IMG, IMG_Y, device=CPU, optimizer=opt,
                                                                    progress=False),
    "transfer.fit_steps": lambda m, opt: transfer.fit_steps(m, IMG, IMG_Y, steps=1, batch_size=2, device=CPU,
                                                            optimizer=opt),
    "validate.optimizer": lambda m, opt: validate.optimizer("optimizer", opt, m),
}

# f(ids) with right-padded ids (pad 0); called with left padding and with a pad inside a sequence
PADDING: dict[str, Callable[[Any], Any]] = {
    "rnn.RecurrentClassifier.forward": lambda ids: SEQ_CLF(torch.tensor(ids)),
    "rnn.pad_batch": lambda ids: rnn.pad_batch(ids),
    "validate.right_padded": lambda ids: validate.right_padded("ids", torch.tensor(ids), 0),
}

# f(model, x) with a float64 model; called with float32 inputs
DTYPE_VS_MODEL: dict[str, Callable[[nn.Module], Any]] = {
    "adversarial.fgsm": lambda m: adversarial.fgsm(m, IMG, IMG_Y, 0.1),
    "adversarial.pgd": lambda m: adversarial.pgd(m, IMG, IMG_Y, 0.1, 0.05, 2),
    "adversarial.pgd_l2": lambda m: adversarial.pgd_l2(m, IMG, IMG_Y, 1.0, steps=2),
    "adversarial.cw_l2": lambda m: adversarial.cw_l2(m, IMG, IMG_Y, steps=2, search_steps=1),
    "adversarial.targeted": lambda m: adversarial.targeted(m, IMG, 1, steps=2),
    "adversarial.accuracy_under_attack": lambda m: adversarial.accuracy_under_attack(m, IMG, IMG_Y, adversarial.fgsm, 0.1),
    "explain.saliency": lambda m: explain.saliency(m, IMG, IMG_Y),
    "explain.activations": lambda m: explain.activations(m, m[1], IMG),
    "explain.occlusion": lambda m: explain.occlusion(m, IMG, IMG_Y, patch=14, stride=14),
    "explain.deletion_curve": lambda m: explain.deletion_curve(m, IMG, IMG_Y, torch.rand(IMG.shape), steps=2),
    "train.predict_proba": lambda m: train.predict_proba(m, IMG, device=CPU),
    "train.accuracy": lambda m: train.accuracy(m, IMG, IMG_Y, device=CPU),
    "train.train_classifier": lambda m: train.train_classifier(m, IMG, IMG_Y, device=CPU, progress=False),
    "transfer.fit_steps": lambda m: transfer.fit_steps(m, IMG, IMG_Y, steps=1, batch_size=2, device=CPU,
                                                       optimizer=torch.optim.SGD(m.parameters(), lr=0.1)),
    "validate.batched": lambda m: validate.batched(m, IMG, device=CPU),
}

# Callables whose signature matches a rule below but that take no such relative check, with the reason.
RELATIVE_EXEMPT = {
    "rnn.Vocab.decode": "reads ids back to text, dropping pad ids wherever they are; it counts no lengths",
    "validate.labels": "the plain check: its num_classes argument is what the relative checks pass to it",
    "validate.num_outputs": "it computes the number of outputs the other checks compare with",
    "validate.logits": "the check itself (tested through LOGITS and the CASES entry)",
    "validate.input_dtype": "the check itself (tested through DTYPE_VS_MODEL and the CASES entry)",
    "explain.activation_maximization": "builds its own input, in the model's dtype; takes no labels",
    "adversarial.project": "takes no model; x_adv and x are checked against each other by shape",
    "transfer.digit_subset": "takes no model; negative labels are refused by validate.labels (a CASES entry)",
    "transfer.per_class_sample": "takes no model; the labels only group the examples",
    "transfer.confusion_rate": "takes no model; pred and y are checked against each other (CASES entries)",
    "transfer.random_affine": "any real-valued image resamples correctly; the output range is the input's",
    "transfer.rotate180": "a flip is correct on any image range",
    "sample_quality.features": "computes features of any input; sample_quality checks the pixel range",
    "autoencoders.train_autoencoder": "autoencoders are covered by their own CASES; no labels, no optimizer argument",
}


def _params_of(obj: Any) -> set[str]:
    try:
        return set(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return set()


def _rules(key: str, obj: Any) -> set[str]:
    """Which relative tables a callable belongs in, from its parameter names."""
    p = _params_of(obj)
    model = bool(p & {"model", "classifier"})
    rules = set()
    if model and p & {"y", "target", "labels"}:
        rules.add("LABELS_VS_MODEL")
    if "optimizer" in p or "opt" in p:
        rules.add("OPTIMIZER_VS_MODEL")
    if p & {"probs", "curve"}:
        rules.add("PROBABILITIES")
    if p & {"samples"} or (key.startswith("adversarial.") and "x" in p and model):
        rules.add("PIXELS")
    if p & {"seqs"} or (key.startswith("rnn.") and "ids" in p):
        rules.add("PADDING")
    if model and (p & {"x", "X"}) and key.split(".")[0] in {"adversarial", "explain", "train", "transfer"}:
        rules.add("DTYPE_VS_MODEL")
    return rules


TABLES = {"LABELS_VS_MODEL": LABELS_VS_MODEL, "PIXELS": PIXELS, "PROBABILITIES": PROBABILITIES, "LOGITS": LOGITS,
          "OPTIMIZER_VS_MODEL": OPTIMIZER_VS_MODEL, "PADDING": PADDING, "DTYPE_VS_MODEL": DTYPE_VS_MODEL}


def test_relative_tables_cover_every_signature_that_takes_such_a_pair():
    public = _public_callables()
    missing = sorted(f"{key} ({rule})" for key, obj in public.items() for rule in _rules(key, obj)
                     if key not in TABLES[rule] and key not in RELATIVE_EXEMPT)
    assert not missing, f"add these to the relative tables of tests/test_bad_input.py (or RELATIVE_EXEMPT): {missing}"
    stale = sorted(k for table in TABLES.values() for k in table if k not in public)
    assert not stale, f"relative-table entries for names that are not public callables: {stale}"


def _refused(call: Callable[[], Any], error: type, names: str) -> None:
    with _deadline(TIMEOUT_S):
        with pytest.raises((TypeError, ValueError)) as info:
            result = call()
            pytest.fail(f"returned {result!r:.200} instead of raising")
    assert isinstance(info.value, error), f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    assert re.search(names, str(info.value)), f"the message should name {names!r}: {info.value}"
    origin = str(Path(info.traceback[-1].path).resolve())
    assert origin.startswith(DLEXT_DIR), f"raised from {origin}, not by dlext's own checks: {info.value}"


@pytest.mark.parametrize("key", sorted(LABELS_VS_MODEL))
@pytest.mark.parametrize("y", [torch.tensor([0, 1, 3, 0]), torch.tensor([0, 7, 1, 2]), torch.tensor([0, -1, 1, 2]),
                               torch.tensor([-100, 0, 1, 2])], ids=["C", "beyond", "minus1", "ignore_index"])
def test_labels_are_checked_against_the_models_outputs(key, y):
    _refused(lambda: LABELS_VS_MODEL[key](y), ValueError, "y|target|labels")


@pytest.mark.parametrize("key", sorted(PIXELS))
@pytest.mark.parametrize("scale", ["bytes", "normalized"])
def test_pixels_are_checked_against_zero_one(key, scale):
    x = X3 * 255 if scale == "bytes" else X3 * 2 - 1
    _refused(lambda: PIXELS[key](x), ValueError, r"x|samples")


@pytest.mark.parametrize("key", sorted(PROBABILITIES))
def test_probabilities_are_not_logits(key):
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.3, 1.7, -2.0]])
    _refused(lambda: PROBABILITIES[key](logits), ValueError, "probs|curve")


@pytest.mark.parametrize("key", sorted(LOGITS))
def test_softmax_is_not_applied_twice(key):
    _refused(lambda: LOGITS[key](nn.Sequential(CNN, nn.Softmax(-1))), ValueError, "model")


@pytest.mark.parametrize("key", sorted(OPTIMIZER_VS_MODEL))
def test_optimizer_is_checked_against_the_model(key):
    model = transfer.make_model(3)
    other = torch.optim.Adam(transfer.make_model(3).parameters())
    _refused(lambda: OPTIMIZER_VS_MODEL[key](model, other), ValueError, "optimizer")


@pytest.mark.parametrize("key", sorted(PADDING))
@pytest.mark.parametrize("ids", [[[0, 0, 5], [5, 6, 7]], [[5, 0, 7], [5, 6, 7]]], ids=["left", "inside"])
def test_padding_is_on_the_right(key, ids):
    _refused(lambda: PADDING[key](ids), ValueError, "ids|seqs|pad")


@pytest.mark.parametrize("key", sorted(DTYPE_VS_MODEL))
def test_input_dtype_is_checked_against_the_model(key):
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 3)).double()
    _refused(lambda: DTYPE_VS_MODEL[key](model), TypeError, "x|X")
