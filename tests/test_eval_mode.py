"""aekit.nets.eval_mode: eval mode inside the block, the previous training flag after it."""

from __future__ import annotations

import pytest
import torch

import aekit
from aekit.nets import eval_mode


@pytest.mark.parametrize("training", [True, False])
def test_the_flag_is_given_back_also_when_the_block_raises(training):
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    m.train(training)
    with eval_mode(m) as same:
        assert same is m and not any(x.training for x in m.modules())
    assert all(x.training == training for x in m.modules())
    with pytest.raises(RuntimeError), eval_mode(m):
        raise RuntimeError("inside")
    assert all(x.training == training for x in m.modules())


@pytest.mark.parametrize("make", [lambda: aekit.DenoisingAE(input_shape=(6,), latent_dim=2, noise="masking"),
                                  lambda: aekit.VAE(input_shape=(6,), latent_dim=2),
                                  lambda: aekit.KSparseAE(input_shape=(6,), latent_dim=4, k=2)],
                         ids=["dae", "vae", "ksparse"])
@pytest.mark.parametrize("training", [True, False])
def test_scoring_and_sampling_run_in_eval_mode_and_leave_the_mode_alone(make, training):
    """reconstruct, transform, score and sample decode in eval mode whatever mode the model
    was in, and the model keeps its mode (a fit in progress stays in training mode)."""
    torch.manual_seed(0)
    m = make().train(training)
    seen = []
    m.decoder.register_forward_pre_hook(lambda mod, args: seen.append(m.training))
    x = torch.rand(5, 6)
    m.reconstruct(x)
    m.score(x)
    if m.generative:
        m.sample(3)
    assert seen and not any(seen)
    m.transform(x)
    assert m.training == training
