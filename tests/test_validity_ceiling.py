"""RSA noise ceilings and subject bootstraps against rsatoolbox: pooling of subject RDMs, sessions grouped by subject."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from rsatoolbox.inference import boot_noise_ceiling
from rsatoolbox.rdm import RDMs, compare

import neuro_widgets as nw
from neuro_widgets.engine.alignment.neural_data import to_rsatoolbox

RSA_NAME = {"spearman": "spearman", "pearson": "corr", "cosine": "cosine", "rho-a": "rho-a"}


@pytest.mark.parametrize("which,region", [("k92", "hIT"), ("a78", "IT"), ("a78", "EVC")])
def test_noise_ceiling_equals_rsatoolbox(which, region, request):
    ds = request.getfixturevalue(which)
    theirs = to_rsatoolbox(ds.neural, region)
    for method in ("spearman", "pearson", "cosine", "rho-a"):
        c = nw.alignment.noise_ceiling(ds.neural.rdms(region), method)
        lo, up = boot_noise_ceiling(theirs, RSA_NAME[method], rdm_descriptor="index")
        assert c.lower == pytest.approx(lo, abs=1e-12) and c.upper == pytest.approx(up, abs=1e-12)
        assert "rsatoolbox's pool_rdm" in c.convention and c.pooling == "rsatoolbox"
    c = nw.alignment.noise_ceiling(ds.neural.rdms(region), "spearman")
    assert "rank-transformed" in c.convention
    plain = nw.alignment.noise_ceiling(ds.neural.rdms(region), "spearman", pooling="mean")
    assert abs(plain.lower - c.lower) > 1e-4  # the pooling matters on real data (raw mean was the old default)


def test_hit_sessions_grouped_by_subject_equal_rsatoolbox(k92):
    groups = nw.alignment.subject_groups(k92.neural, "hIT")
    assert len(groups) == 8 and len(set(groups)) == 4
    labels = k92.neural.labels("hIT")
    assert [lab["session"] for lab in labels] == [1, 2] * 4 and groups[::2] == groups[1::2]
    theirs = to_rsatoolbox(k92.neural, "hIT")
    for method in ("spearman", "pearson"):
        c = nw.alignment.noise_ceiling(k92.neural.rdms("hIT"), method, groups=groups)
        lo, up = boot_noise_ceiling(theirs, RSA_NAME[method], rdm_descriptor="subject")
        assert c.lower == pytest.approx(lo, abs=1e-12) and c.upper == pytest.approx(up, abs=1e-12)
        assert len(c.lower_per_subject) == 4 and c.subjects == list(dict.fromkeys(groups))
    assert nw.alignment.subject_groups(k92.neural, "mIT") is None


def test_ceiling_with_one_subject_of_two_sessions_is_refused(k92):
    with pytest.raises(ValueError, match="at least 2 subjects"):
        nw.alignment.noise_ceiling(k92.neural.rdms("hIT")[:2], groups=["BE", "BE"])
    with pytest.raises(ValueError, match="one subject label per RDM"):
        nw.alignment.noise_ceiling(k92.neural.rdms("hIT"), groups=["a", "b"])


def test_grouped_bootstrap_resamples_subjects_with_all_their_sessions(k92):
    """Each draw takes subjects with replacement and all their sessions: equal to building it with rsatoolbox."""
    rng = np.random.default_rng(0)
    hit = np.asarray(k92.neural.rdms("hIT"))
    model = hit.mean(0) + rng.normal(scale=0.05, size=hit.shape[1:])
    model = torch.as_tensor((model + model.T) / 2).fill_diagonal_(0)
    groups = nw.alignment.subject_groups(k92.neural, "hIT")
    boot = nw.alignment.bootstrap_rsa(model, hit, "spearman", n_boot=3, seed=5, groups=groups)
    g = torch.Generator().manual_seed(5)
    n = 92
    iu, ju = torch.triu_indices(n, n, 1)
    subject_rdms = [np.flatnonzero(np.array(groups) == s) for s in dict.fromkeys(groups)]
    for b in range(3):
        idx = torch.randint(n, (n,), generator=g)
        subj = torch.randint(4, (4,), generator=g).numpy()
        rows = np.concatenate([subject_rdms[k] for k in subj])
        keep = idx[iu] != idx[ju]
        ii, jj = idx[iu][keep], idx[ju][keep]
        expected = compare(RDMs(model[None][:, ii, jj].numpy()), RDMs(hit[rows][:, ii, jj]), "spearman").mean()
        assert boot[b, 0] == pytest.approx(expected, abs=1e-9)
