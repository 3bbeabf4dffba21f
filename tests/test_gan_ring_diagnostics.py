"""gan.ring_diagnostics tells a collapsed toy generator from one whose samples are off the ring."""
import pytest
import torch

from dlext import gan


@pytest.fixture
def centres():
    return gan.ring_of_gaussians(1, generator=torch.Generator().manual_seed(0))[1]


def test_the_data_itself_covers_every_mode(centres):
    ring, _ = gan.ring_of_gaussians(2000, generator=torch.Generator().manual_seed(1))
    d = gan.ring_diagnostics(ring, centres)
    assert d["modes"] == 8 and d["sectors"] == 8 and d["on_ring"] > 0.99
    assert not d["collapsed"] and not d["off_ring"]


def test_a_single_spot_is_collapsed_on_or_off_the_ring(centres):
    g = torch.Generator().manual_seed(2)
    on_mode = centres[3] + 0.05 * torch.randn(1000, 2, generator=g)
    between = torch.tensor([1.0, 1.0]) + 0.05 * torch.randn(1000, 2, generator=g)  # radius 1.4, between modes
    for spot in (on_mode, between):
        d = gan.ring_diagnostics(spot, centres)
        assert d["collapsed"] and not d["off_ring"] and d["sectors"] <= 2
    assert gan.ring_diagnostics(on_mode, centres)["modes"] == 1
    assert gan.ring_diagnostics(between, centres)["modes"] == 0


def test_a_blob_at_the_origin_is_off_the_ring_not_collapsed(centres):
    blob = 0.3 * torch.randn(2000, 2, generator=torch.Generator().manual_seed(3))
    d = gan.ring_diagnostics(blob, centres)
    assert d["modes"] == 0 and d["sectors"] == 8 and d["on_ring"] < 0.05
    assert d["off_ring"] and not d["collapsed"]


@pytest.mark.parametrize("kwargs", [{"points": torch.zeros(5, 3)}, {"points": torch.zeros(0, 2)},
                                    {"min_share": 0.0}, {"ring_width": -1.0}])
def test_bad_input_raises(centres, kwargs):
    args = {"points": torch.ones(5, 2), "centres": centres, **kwargs}
    with pytest.raises(ValueError):
        gan.ring_diagnostics(**args)
