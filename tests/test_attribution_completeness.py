"""Integrated gradients' completeness error (issue 16 item 10): every result carries it per image, computed from
the model's own outputs; images above the threshold are named in a warning; auto mode reports which images did
not reach the tolerance."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.attribution.ig_auto import WARN_ABOVE, CompletenessWarning

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients",
                                        "ignore:Setting .*hooks:UserWarning")


@pytest.fixture(scope="module")
def setup():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Softplus(beta=3), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                        nn.Tanh(), nn.Flatten(), nn.Linear(8 * 8 * 8, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.6)
    probe = nw.Probe(net.eval(), nw.InputSpec(size=(16, 16), mean=(0.5,) * 3, std=(0.25,) * 3))
    x = torch.randn(6, 3, 16, 16, generator=g) * 1.5
    return probe, x


def _gap(probe, x, attributions, target):
    """|sum(attr) - (F(x) - F(0))| / |F(x) - F(0)| from the model's own outputs (independent of captum's delta)."""
    with torch.no_grad():
        change = (probe.module(x)[:, target] - probe.module(torch.zeros_like(x))[:, target]).double()
    return ((attributions.flatten(1).double().sum(1) - change).abs() / change.abs()).numpy()


def _ig(probe, x, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = nw.attribution.attribute(probe, x, "integrated_gradients", 1, **kw)
    return res, [w for w in caught if issubclass(w.category, CompletenessWarning)]


def test_each_result_carries_its_error_and_warns_naming_the_images_above_threshold(setup):
    probe, x = setup
    res, caught = _ig(probe, x, n_steps=2, integration="riemann_left")
    gap = _gap(probe, x, res.attributions, 1)
    np.testing.assert_allclose(res.relative_delta.double().numpy(), gap, rtol=1e-3, atol=1e-6)
    bad = [int(i) for i in np.flatnonzero(gap > WARN_ABOVE)]
    assert bad and res.not_converged == bad and res.completeness_threshold == WARN_ABOVE
    (w,) = caught
    text = str(w.message)
    assert f"{len(bad)} of 6 image(s)" in text and "raise n_steps, or pass auto_steps=True" in text
    for i in bad:
        assert f"{i} ({gap[i]:.1%} at 2 steps)" in text

    fine, caught = _ig(probe, x, n_steps=400)
    assert (fine.relative_delta.double().numpy() <= WARN_ABOVE).all()
    assert fine.not_converged == [] and fine.converged.all() and caught == []


def test_auto_steps_reports_the_images_that_did_not_converge(setup):
    probe, x = setup
    res, caught = _ig(probe, x, auto_steps=True, n_steps=2, tolerance=0.02, max_steps=8, integration="riemann_left")
    gap = _gap(probe, x, res.attributions, 1)
    missed = [int(i) for i in np.flatnonzero(gap > 0.02)]
    assert missed and res.not_converged == missed and res.completeness_threshold == 0.02
    assert all(res.n_steps[i] == 8 for i in missed)  # those reached the step budget
    (w,) = caught
    assert "raise max_steps or the tolerance" in str(w.message) and "at 8 steps" in str(w.message)

    done, caught = _ig(probe, x, auto_steps=True, n_steps=2, tolerance=0.02, max_steps=1024)
    assert done.not_converged == [] and caught == []
    assert (_gap(probe, x, done.attributions, 1) <= 0.02 + 1e-6).all()


def test_layer_contributions_carry_and_report_their_error(setup):
    probe, x = setup
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = nw.attribution.layer_contributions(probe, "2", x, target=1, n_steps=1)
    rel = c.relative_delta.double().numpy()
    assert np.array_equal(c.converged, rel <= WARN_ABOVE)
    named = [w for w in caught if issubclass(w.category, CompletenessWarning)]
    assert len(named) == int((rel > WARN_ABOVE).any())
