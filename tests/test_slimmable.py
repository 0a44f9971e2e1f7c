"""Slimmable encoders (shared weights at every width) and the sandwich-rule MAE objective."""

import copy

import pytest
import torch

from rsfm.models.mae import MaskedAutoencoder
from rsfm.models.slim import slim_model
from rsfm.models.slimmable import SlimmableMAE, make_slimmable, sandwich_widths, width
from rsfm.models.vit import create_encoder


def encoder():
    torch.manual_seed(0)
    return create_encoder("vit_tiny12x4", img_size=32, patch_size=8).eval()


@pytest.mark.parametrize("s", [1.0, 0.5, 0.1, 0.01])
def test_slimmable_at_width_s_is_the_post_hoc_slimmed_model(s):
    plain = encoder()
    slimmable = make_slimmable(copy.deepcopy(plain))
    assert list(slimmable.state_dict()) == list(plain.state_dict())  # same names: exports like any encoder
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), width(slimmable, s):
        ours = slimmable(images)
    with torch.no_grad():
        expected = slim_model(plain, s)(images)
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(slimmable(images), plain(images), rtol=0, atol=0)  # back at full width


def test_sandwich_widths_are_seeded_and_bounded():
    a = sandwich_widths(0.25, 2, torch.Generator().manual_seed(1))
    b = sandwich_widths(0.25, 2, torch.Generator().manual_seed(1))
    assert a == b and a[:2] == [1.0, 0.25] and all(0.25 <= w < 1 for w in a[2:])


def test_sandwich_mae_trains_every_width_through_shared_weights():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(create_encoder("vit_tiny12x1", img_size=32, patch_size=8), decoder_dim=32,
                            decoder_depth=1, decoder_heads=4)  # fmt: skip
    model = SlimmableMAE(mae)
    images, noise = torch.randn(4, 3, 32, 32), torch.rand(4, 16)
    widths = [1.0, 0.25, 0.5]
    total, full, subs = model(images, noise, widths)
    assert subs.shape == (2,) and torch.isclose(total.detach(), full + subs.sum())
    total.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None for n, g in grads.items() if n.startswith("mae.encoder.blocks"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        optimizer.zero_grad()
        total, _, subs = model(images, noise, widths)
        total.backward()
        optimizer.step()
        first = subs if first is None else first
    assert subs.sum() < 0.5 * first.sum()  # the sub-widths learn the full width's reconstruction
    with pytest.raises(ValueError, match="starts with the full width"):
        model(images, noise, [0.5])
