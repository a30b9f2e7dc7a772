"""Real data sets, the model zoo, and the file locator (local folders, downloads, checksums, offline)."""
from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

import neuro_widgets as nw
from neuro_widgets.data import fetch
from neuro_widgets.data.fetch import DataFileError, RemoteFile



@pytest.fixture(scope="session")
def real_files():
    """Paths of the real files these tests read directly: found under $NEURO_WIDGETS_HOME or the user cache,
    else downloaded (a fresh clone without ../shared works). Session-scoped, so it is resolved before any test
    isolates the environment."""
    from neuro_widgets.data import datasets
    from neuro_widgets.zoo import registry

    fname, sha = registry._CIFAR_CHECKPOINTS[20]
    specs = {
        "k_supp": datasets._K_SUPP, "k_brain": datasets._K_BRAIN, "a78_it": datasets._A_RDM["IT"],
        "a78_image_01": next(f for f in datasets._algonauts_images() if f.relpath == "stimuli/image_01.jpg"),
        "resnet20": RemoteFile("models", "cifar_resnet", fname, registry._AKAMASTER + fname, sha),
    }
    return {key: fetch.locate(spec, progress=False) for key, spec in specs.items()}


def assert_valid_rdms(stack, n_rdms, n):
    assert stack.shape == (n_rdms, n, n) and stack.dtype == np.float64
    np.testing.assert_array_equal(stack, stack.transpose(0, 2, 1))
    np.testing.assert_array_equal(np.diagonal(stack, axis1=1, axis2=2), 0.0)
    assert np.all(stack[:, ~np.eye(n, dtype=bool)] > 0)


def within_between(rdm, mask):
    iu = np.triu_indices(int(mask.sum()), 1)
    return rdm[np.ix_(mask, mask)][iu].mean(), rdm[np.ix_(mask, ~mask)].mean()


def test_kriegeskorte2008(k92):
    s = k92.stimuli
    assert len(s) == 92 and s.images.shape == (92, 175, 175, 3) and s.images.dtype == np.uint8
    assert s.ids == [f"{i:02d}" for i in range(1, 93)] and k92.neural.stimulus_ids == s.ids
    meta = s.metadata
    assert meta["animate"].sum() == 48 and meta["inanim"].sum() == 44
    assert meta["face"].sum() == 24 and meta["category"][0] == "human bodypart"
    assert np.all(meta["animate"] != meta["inanim"])
    assert k92.neural.regions == ["mIT", "hIT"]
    assert_valid_rdms(k92.neural.rdms("mIT"), 1, 92)
    assert_valid_rdms(k92.neural.rdms("hIT"), 8, 92)
    labels = k92.neural.labels("hIT")
    assert [(lab["subject"], lab["session"]) for lab in labels[:3]] == [("BE", 1), ("BE", 2), ("KO", 1)]
    with pytest.raises(KeyError, match="this data set has"):
        k92.neural.rdms("V1")


def test_kriegeskorte_stimulus_order_matches_rdm_order(k92):
    """The paper's finding — IT separates animate from inanimate — holds only with matching orders."""
    animate = k92.stimuli.metadata["animate"].astype(bool)
    rng = np.random.default_rng(0)
    for region in ("mIT", "hIT"):
        rdm = k92.neural.rdms(region).mean(0)
        within, between = within_between(rdm, animate)
        assert within < between - 0.05
        p = rng.permutation(92)
        w_shuf, b_shuf = within_between(rdm[np.ix_(p, p)], animate)
        assert abs(w_shuf - b_shuf) < abs(within - between) / 2


def test_algonauts2019_78(a78, real_files):
    s = a78.stimuli
    assert len(s) == 78 and s.images.shape == (78, 400, 400, 3)
    assert s.ids == [f"image_{i:02d}" for i in range(1, 79)] and a78.neural.stimulus_ids == s.ids
    assert a78.neural.regions == ["EVC", "IT"]
    for region in ("EVC", "IT"):
        assert_valid_rdms(a78.neural.rdms(region), 15, 78)
    raw = np.load(real_files["a78_it"])["arr_0"]
    np.testing.assert_allclose(a78.neural.rdms("IT"), raw, atol=1e-15)


def test_algonauts_stimulus_order_matches_rdm_order(a78, real_files):
    """Row i of the RDMs is image_{i+1:02d}.jpg: the loader keeps the file order, and early visual cortex
    tracks coarse colour layout (4x4 RGB) in that order better than in 95% of shuffled orders."""
    from PIL import Image

    first = np.asarray(Image.open(real_files["a78_image_01"]).convert("RGB"))
    expected = nw.StimulusSet.from_images([first], size=(400, 400)).images[0]
    np.testing.assert_array_equal(a78.stimuli.images[0], expected)
    x = torch.tensor(a78.stimuli.images).permute(0, 3, 1, 2).float()
    coarse = torch.nn.functional.interpolate(x, size=(4, 4), mode="area").flatten(1).numpy()
    d = pdist(coarse, "correlation")
    evc = a78.neural.rdms("EVC").mean(0)
    iu = np.triu_indices(78, 1)
    true = spearmanr(d, evc[iu])[0]
    rng = np.random.default_rng(0)
    null = [spearmanr(d, evc[np.ix_(p, p)][iu])[0] for p in (rng.permutation(78) for _ in range(500))]
    assert np.mean(np.array(null) >= true) < 0.05


def test_cifar_resnet_pretrained_and_random(k92):
    trained = nw.load_model("cifar_resnet20")
    r0 = nw.load_model("cifar_resnet20", pretrained=False, seed=0)
    r0b = nw.load_model("cifar_resnet20", pretrained=False, seed=0)
    r1 = nw.load_model("cifar_resnet20", pretrained=False, seed=1)
    w = lambda p: p.module.conv1.weight  # noqa: E731
    assert torch.equal(w(r0), w(r0b)) and not torch.equal(w(r0), w(r1)) and not torch.equal(w(r0), w(trained))
    assert not trained.module.training
    # the checkpoint's BN statistics are real trained values, not the init defaults
    assert not torch.allclose(trained.module.bn1.running_var, torch.ones(16))
    # the trained net tells animals from vehicles on the real photographs better than chance
    pred = trained.predict(k92.stimuli).argmax(1).numpy()
    animal_classes = {2, 3, 4, 5, 6, 7}
    animal = k92.stimuli.metadata["animal"].astype(bool)
    agree = np.mean([(p in animal_classes) == a for p, a in zip(pred, animal)])
    assert agree > 0.6


def test_checkpoint_strict_match_and_weights_only(tmp_path, real_files):
    from neuro_widgets.zoo.registry import load_checkpoint
    from neuro_widgets.zoo.cifar_resnet import CifarResNet

    state = load_checkpoint(real_files["resnet20"])
    assert not any(k.startswith("module.") for k in state)
    CifarResNet(20).load_state_dict(state, strict=True)
    with pytest.raises(RuntimeError, match="Missing key"):
        CifarResNet(32).load_state_dict(state, strict=True)
    # round trip through a plain state-dict file
    torch.save(state, tmp_path / "sd.pt")
    again = load_checkpoint(tmp_path / "sd.pt")
    assert all(torch.equal(state[k], again[k]) for k in state)


def test_load_model_errors():
    with pytest.raises(ValueError, match="unknown model 'resnet20'.*cifar_resnet20"):
        nw.load_model("resnet20")
    with pytest.raises(ValueError, match="depth must be one of"):
        nw.load_model("cifar_resnet21")
    with pytest.raises(ValueError, match="unknown torchvision model"):
        nw.load_model("torchvision:not_a_model", weights=None)


# ---- the file locator ------------------------------------------------------------------------------------

@contextlib.contextmanager
def serve(folder: Path):
    """A static file server on 127.0.0.1 (stands in for the public URL)."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No NEURO_WIDGETS_HOME, and a temporary user cache."""
    monkeypatch.delenv("NEURO_WIDGETS_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def spec_for(url: str, payload: bytes, name="blob.bin") -> RemoteFile:
    return RemoteFile("data", "testset", name, url + name, hashlib.sha256(payload).hexdigest())


def test_download_checks_sha_and_writes_atomically(isolated):
    payload = os.urandom(300_000)
    site = isolated / "site"
    site.mkdir()
    (site / "blob.bin").write_bytes(payload)
    with serve(site) as url:
        spec = spec_for(url, payload)
        path = fetch.locate(spec, progress=False)
    assert path == isolated / "cache/neuro_widgets/data/testset/blob.bin"
    assert path.read_bytes() == payload
    assert [p.name for p in path.parent.iterdir()] == ["blob.bin"], "no temporary file left behind"
    # second call: found in the cache, no server needed
    assert fetch.locate(spec, progress=False) == path


def test_download_progress_is_a_tqdm_bar_of_bytes(isolated, capsys):
    payload = os.urandom(200_000)
    site = isolated / "site"
    site.mkdir()
    (site / "blob.bin").write_bytes(payload)
    with serve(site) as url:
        fetch.locate(spec_for(url, payload), progress=True)
    err = capsys.readouterr().err
    assert "downloading blob.bin" in err and "100%" in err and "195k/195k" in err


def test_download_with_wrong_checksum_keeps_nothing(isolated):
    site = isolated / "site"
    site.mkdir()
    (site / "blob.bin").write_bytes(b"tampered content")
    with serve(site) as url:
        spec = spec_for(url, b"the real content")
        with pytest.raises(DataFileError, match="wrong checksum.*not kept"):
            fetch.locate(spec, progress=False)
    folder = isolated / "cache/neuro_widgets/data/testset"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_truncated_file_in_cache_is_reported_and_removed(isolated):
    payload = os.urandom(5000)
    spec = spec_for("http://127.0.0.1:9/", payload)
    cached = isolated / "cache/neuro_widgets/data/testset/blob.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(payload[:1000])
    with pytest.raises(DataFileError, match="corrupt or truncated and was deleted"):
        fetch.locate(spec, progress=False)
    assert not cached.exists()


def test_offline_and_missing_names_file_url_and_variable(isolated):
    spec = spec_for("http://127.0.0.1:9/", b"x", name="missing.mat")  # port 9: nothing listens
    with pytest.raises(DataFileError) as err:
        fetch.locate(spec, progress=False)
    text = str(err.value)
    assert "missing.mat" in text and "http://127.0.0.1:9/missing.mat" in text and "NEURO_WIDGETS_HOME" in text
    assert list((isolated / "cache/neuro_widgets/data/testset").iterdir()) == []


def test_read_only_home_folder_works(isolated, monkeypatch, real_files):
    home = isolated / "home"
    target = home / "data/kriegeskorte2008"
    target.mkdir(parents=True)
    for f in (real_files["k_supp"], real_files["k_brain"]):
        (target / f.name).write_bytes(f.read_bytes())
        os.chmod(target / f.name, stat.S_IRUSR)
    os.chmod(target, stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv("NEURO_WIDGETS_HOME", str(home))
    try:
        ds = nw.datasets.kriegeskorte2008()
        assert len(ds.stimuli) == 92
        assert not (isolated / "cache").exists(), "nothing was written anywhere"
    finally:
        os.chmod(target, stat.S_IRWXU)


def test_bad_file_in_home_is_reported_not_deleted(isolated, monkeypatch, real_files):
    home = isolated / "home"
    target = home / "models/cifar_resnet"
    target.mkdir(parents=True)
    bad = target / "resnet20-12fca82f.th"
    bad.write_bytes(real_files["resnet20"].read_bytes()[:10_000])
    monkeypatch.setenv("NEURO_WIDGETS_HOME", str(home))
    with pytest.raises(DataFileError, match="wrong checksum.*corrupt or truncated"):
        nw.load_model("cifar_resnet20")
    assert bad.exists(), "a user's own file is reported, never deleted"


def test_root_argument_takes_precedence(isolated, real_files):
    root = isolated / "mine"
    root.mkdir()
    for key in ("k_supp", "k_brain"):
        (root / real_files[key].name).symlink_to(real_files[key])
    ds = nw.datasets.kriegeskorte2008(root=root)
    assert len(ds.stimuli) == 92
    with pytest.raises(DataFileError, match="not in the folder root="):
        nw.datasets.kriegeskorte2008(root=isolated)


def test_zoo_round_trip_through_download(isolated, monkeypatch, real_files):
    """The real checkpoint, served over HTTP, lands in the cache and loads to the same weights."""
    from neuro_widgets.zoo import registry

    monkeypatch.setattr(registry, "_AKAMASTER", "")  # patched below to the local server
    site = isolated / "site"
    site.mkdir()
    (site / real_files["resnet20"].name).symlink_to(real_files["resnet20"])
    with serve(site) as url:
        monkeypatch.setattr(registry, "_AKAMASTER", url)
        probe = nw.load_model("cifar_resnet20")
    cached = isolated / "cache/neuro_widgets/models/cifar_resnet/resnet20-12fca82f.th"
    assert cached.is_file()
    reference = nw.load_model("cifar_resnet20", root=real_files["resnet20"].parent)
    for (k, a), (_, b) in zip(probe.module.state_dict().items(), reference.module.state_dict().items()):
        assert torch.equal(a, b), k
