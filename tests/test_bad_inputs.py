"""Bad inputs a first-time user makes: each is refused with an error that says what was wrong and how to fix it,
before anything changes (the model untouched, no file written).

The table below replays the cases of the stress campaign (issue 11) that the engine's loading and validation code
answers; every row is input -> exception type and a fragment of the message.
"""
from __future__ import annotations

import io
import os
import re
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import assert_untouched, snapshot
from PIL import Image
from torch import nn

import neuro_widgets as nw
from neuro_widgets.alignment import NeuralResponses
from neuro_widgets.data import fetch
from neuro_widgets.data.fetch import DataFileError, RemoteFile
from neuro_widgets.engine.hooks import capture, resolve_layers

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients",
                                        "ignore:Setting .*hooks:UserWarning")

RAW_INTERNALS = re.compile(r"operands could not be broadcast|is not iterable|unhashable type|has no attribute|"
                           r"takes \d+ positional|invalid literal|truth value of an array|inhomogeneous|"
                           r"backends|tensor\(\[|array\(\[")


@pytest.fixture(scope="module")
def stim(k92):
    return k92.stimuli[:6]


def rdm_stack(n_rdms=3, n=8, seed=0):
    v = np.random.default_rng(seed).normal(size=(n_rdms, n))
    return np.stack([np.abs(np.subtract.outer(r, r)) for r in v])


def image_folder(kind: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="nw_bad_images_"))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    if kind == "truncated":
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
        (folder / "b.jpg").write_bytes(buf.getvalue()[:300])
    elif kind == "not an image":
        (folder / "b.png").write_text("hello")
    return folder


def netcdf(tmp: Path, kind: str) -> Path:
    import xarray as xr

    path = tmp / f"{kind}.nc"
    rng = np.random.default_rng(0)
    if kind == "text":
        path.write_text("stimulus,neuroid\n")
    elif kind == "npz":
        with open(path, "wb") as f:
            np.savez(f, a=np.zeros(3))
    elif kind == "truncated":
        da = xr.DataArray(rng.normal(size=(16, 5)), dims=("presentation", "neuroid"),
                          coords={"stimulus_id": ("presentation", [str(i % 8) for i in range(16)])})
        da.to_netcdf(path, engine="h5netcdf")
        path.write_bytes(path.read_bytes()[:2000])
    elif kind == "wrong dims":
        xr.DataArray(rng.normal(size=(8, 5)), dims=("stimulus", "unit")).to_netcdf(path, engine="h5netcdf")
    elif kind == "no stimulus_id":
        xr.DataArray(rng.normal(size=(8, 5)), dims=("presentation", "neuroid")).to_netcdf(path, engine="h5netcdf")
    elif kind == "two variables":
        dims = ("presentation", "neuroid")
        xr.Dataset({"a": (dims, rng.normal(size=(8, 5))), "b": (dims, rng.normal(size=(8, 5)))}).to_netcdf(
            path, engine="h5netcdf")
    return path


U8 = np.zeros((2, 32, 32, 3), np.uint8)
IDS8 = list("abcdefgh")

# (id, call(probe, stimuli, tmp_path), exception type, message fragment (regex))
CASES = [
    # ---- model-ready tensors
    ("uint8 tensor", lambda p, s, t: p.predict(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)),
     TypeError, r"must be floating point.*got dtype torch.uint8.*StimulusSet.from_arrays"),
    ("int64 tensor", lambda p, s, t: p.activations(torch.zeros(2, 3, 32, 32, dtype=torch.int64), "conv1"),
     TypeError, r"floating point.*torch.int64"),
    ("0-255 float tensor", lambda p, s, t: p.predict(torch.linspace(0, 255, 6144).reshape(2, 3, 32, 32)),
     ValueError, r"not normalised for this probe.*range over \[.*255\].*\[-2.12, 2.64\].*StimulusSet.from_arrays"),
    ("+inf in tensor", lambda p, s, t: p.predict(torch.full((2, 3, 32, 32), float("inf"))),
     ValueError, r"6144 infinite value\(s\).*positions \[0, 1\]"),
    ("nan in tensor", lambda p, s, t: p.activations(torch.full((2, 3, 32, 32), float("nan")), "conv1"),
     ValueError, r"NaN value"),
    ("tensor of another size", lambda p, s, t: p.predict(torch.zeros(2, 3, 64, 64)),
     ValueError, r"must be 32x32 .*got \(64, 64\)"),
    ("one CHW image", lambda p, s, t: p.predict(torch.zeros(3, 32, 32)), ValueError, r"x\[None\]"),
    ("channels-last tensor", lambda p, s, t: p.predict(torch.zeros(2, 32, 32, 3)), ValueError,
     r"permute\(0, 3, 1, 2\)"),
    ("empty tensor", lambda p, s, t: p.predict(torch.zeros(0, 3, 32, 32)), ValueError, r"empty"),
    ("uint8 tensor to attribute",
     lambda p, s, t: nw.attribution.attribute(p, torch.zeros(2, 3, 32, 32, dtype=torch.uint8), "saliency", 3),
     TypeError, r"floating point"),
    ("list of arrays", lambda p, s, t: p.predict([U8[0], U8[1]]), TypeError, r"list of 2 \(ndarray\).*from_images"),
    ("float 0-255 array", lambda p, s, t: p.predict(np.full((2, 32, 32, 3), 200.0)), ValueError, r"\[0, 1\].*/ 255"),
    # ---- layer names
    ("layer int", lambda p, s, t: p.layer(3), TypeError, r"layer name.*got 3.*probe.layer_names\(\)\[3\]"),
    ("layer None", lambda p, s, t: p.layer(None), TypeError, r"layer name.*got None"),
    ("layers int", lambda p, s, t: p.activations(s, 3), TypeError, r"layers must be a layer name or a list"),
    ("layers with an int", lambda p, s, t: p.activations(s, ["conv1", 3]), TypeError, r"layers\[1\] must be a layer"),
    ("layers nested list", lambda p, s, t: p.activations(s, [["conv1"]]), TypeError, r"layers\[0\].*\['conv1'\]"),
    ("layers None", lambda p, s, t: p.activations(s, None), TypeError, r"layers must be"),
    ("dataset_examples int layer", lambda p, s, t: nw.featurevis.dataset_examples(p, 3, s), TypeError,
     r"layer name"),
    ("capture None layer", lambda p, s, t: capture(p.module, [None]).__enter__(), TypeError, r"layers\[0\].*got None"),
    ("resolve_layers a list in a list", lambda p, s, t: resolve_layers(p.module, [["conv1"]]), TypeError,
     r"layers\[0\]"),
    ("call index out of range", lambda p, s, t: p.activations(s, ["relu@3"]), ValueError, r"relu@0 to relu@0"),
    # ---- other arguments of an engine call
    ("progress of one argument", lambda p, s, t: p.activations(s, "conv1", progress=lambda done: None),
     TypeError, r"progress\(done, total\).*cannot take two positional arguments"),
    ("progress of no argument", lambda p, s, t: p.predict(s, progress=lambda: None), TypeError,
     r"progress\(done, total\)"),
    ("progress a class", lambda p, s, t: p.predict(s, progress=dict), TypeError, r"not the class dict"),
    ("progress a string", lambda p, s, t: p.predict(s, progress="bar"), TypeError, r"None, True .* or a function"),
    ("cancel True", lambda p, s, t: p.activations(s, "conv1", cancel=True), TypeError, r"CancelToken\(\)"),
    ("cancel the class", lambda p, s, t: p.predict(s, cancel=nw.CancelToken), TypeError, r"the class CancelToken"),
    ("cancel an Event", lambda p, s, t: p.predict(s, cancel=threading.Event()), TypeError, r"not Event"),
    ("batch_size 0", lambda p, s, t: p.predict(s, batch_size=0), ValueError, r"batch_size must be a positive integer"),
    ("batch_size True", lambda p, s, t: p.activations(s, "conv1", batch_size=True), ValueError, r"got True"),
    ("reduce an array", lambda p, s, t: p.activations(s, "conv1", reduce=np.zeros(3)), ValueError,
     r"unknown reduce=a ndarray of shape \(3,\)"),
    ("random projection seed str", lambda p, s, t: p.activations(s, "conv1", reduce=("random_projection", 8, "x")),
     ValueError, r"integer seed, got 'x'"),
    ("cache not an ActivationCache", lambda p, s, t: nw.Probe(p.module, p.input_spec, cache="big"), TypeError,
     r"ActivationCache"),
    ("cache budget str", lambda p, s, t: setattr(nw.activation_cache, "budget_bytes", "2GB"), ValueError,
     r"number of bytes.*2 \* 2\*\*30"),
    # ---- InputSpec
    ("mean of 2 for 3 channels", lambda p, s, t: nw.InputSpec(size=8, mean=(0.1, 0.2)), ValueError,
     r"InputSpec.mean has 2 values but channels=3"),
    ("std of 3 for 1 channel", lambda p, s, t: nw.InputSpec(size=8, channels=1, std=(0.2, 0.2, 0.2)), ValueError,
     r"InputSpec.std has 3 values but channels=1"),
    ("mean in 0-255 units", lambda p, s, t: nw.InputSpec(size=8, mean=(123.7, 116.3, 103.5), std=(58.4, 57.1, 57.4)),
     ValueError, r"look like 0-255 units: divide them by 255"),
    ("size None", lambda p, s, t: nw.InputSpec(size=None), TypeError, r"\(height, width\) in pixels"),
    ("size 3-tuple", lambda p, s, t: nw.InputSpec(size=(3, 224, 224)), TypeError, r"got \(3, 224, 224\)"),
    ("channels str", lambda p, s, t: nw.InputSpec(size=8, channels="rgb"), TypeError, r"channels must be a positive"),
    ("class_names a string", lambda p, s, t: nw.InputSpec(size=8, class_names="cat"), TypeError, r"list of names"),
    # ---- stimulus sets
    ("ragged list of arrays", lambda p, s, t: nw.StimulusSet.from_arrays([np.zeros((8, 8, 3)), np.zeros((9, 9, 3))]),
     ValueError, r"different shapes.*from_images\(.*size="),
    ("images None", lambda p, s, t: nw.StimulusSet.from_arrays(None), TypeError, r"images is None"),
    ("16-bit images", lambda p, s, t: nw.StimulusSet.from_arrays(np.full((2, 8, 8, 3), 4000, np.uint16)),
     ValueError, r"range over \[4000, 4000\].*// 257"),
    ("+inf pixels", lambda p, s, t: nw.StimulusSet.from_arrays(np.full((2, 8, 8, 3), np.inf)), ValueError,
     r"infinite pixels"),
    ("images without pixels", lambda p, s, t: nw.StimulusSet.from_arrays(np.zeros((2, 8, 0, 3), np.uint8)),
     ValueError, r"no pixels"),
    ("ids a string", lambda p, s, t: nw.StimulusSet.from_arrays(U8, ids="ab"), TypeError, r"ids must be a list"),
    ("id None", lambda p, s, t: nw.StimulusSet.from_arrays(U8, ids=["a", None]), TypeError, r"id 1 is None"),
    ("metadata a list", lambda p, s, t: nw.StimulusSet.from_arrays(U8, metadata=[1, 2]), TypeError,
     r"metadata must be a dict"),
    ("from_images of a folder path", lambda p, s, t: nw.StimulusSet.from_images(str(t)), TypeError,
     r"from_folder\(path\)"),
    ("from_images size 0", lambda p, s, t: nw.StimulusSet.from_images([U8[0]], size=0), ValueError,
     r"size must be positive"),
    ("from_folder missing", lambda p, s, t: nw.StimulusSet.from_folder(t / "nope"), FileNotFoundError,
     r"no folder at"),
    ("from_folder truncated jpeg", lambda p, s, t: nw.StimulusSet.from_folder(image_folder("truncated")),
     ValueError, r"cannot read the image file .*b\.jpg.*Replace or remove it"),
    ("from_folder text named png", lambda p, s, t: nw.StimulusSet.from_folder(image_folder("not an image")),
     ValueError, r"cannot read the image file .*b\.png"),
    ("from_images truncated file", lambda p, s, t: nw.StimulusSet.from_images(
        [image_folder("truncated") / "b.jpg"]), ValueError, r"image 0: cannot read the image file .*b\.jpg"),
    ("index out of range", lambda p, s, t: s[100], IndexError, r"positions 0\.\.5"),
    ("index by id", lambda p, s, t: s["01"], TypeError, r"index_of"),
    ("index_of None", lambda p, s, t: s.index_of(None), TypeError, r"list of stimulus ids"),
    ("preprocess with a tuple", lambda p, s, t: s.preprocess((32, 32)), TypeError, r"needs an nw.InputSpec"),
    # ---- models
    ("meta-device model", lambda p, s, t: nw.Probe(nn.Conv2d(3, 4, 3, device="meta"), nw.InputSpec(size=8)),
     ValueError, r"'meta' device.*to_empty"),
    # ---- neural data
    ("NeuralRDMs duplicated id", lambda p, s, t: nw.NeuralRDMs({"IT": rdm_stack()}, list("abcdefga")), ValueError,
     r"ids must be unique; repeated: \['a'\]"),
    ("NeuralRDMs ids a string", lambda p, s, t: nw.NeuralRDMs({"IT": rdm_stack()}, "abcdefgh"), TypeError,
     r"ids must be a list"),
    ("NeuralRDMs an array, not a dict", lambda p, s, t: nw.NeuralRDMs(rdm_stack(), IDS8), TypeError,
     r"NeuralRDMs\(\{'IT': rdms\}, stimulus_ids\)"),
    ("NeuralRDMs +inf", lambda p, s, t: nw.NeuralRDMs({"IT": np.where(np.eye(8) == 1, 0, np.inf)}, IDS8),
     ValueError, r"infinite values"),
    ("NeuralRDMs similarity matrix", lambda p, s, t: nw.NeuralRDMs(
        {"IT": np.corrcoef(np.random.default_rng(0).normal(size=(8, 20)))}, IDS8), ValueError, r"1 - r"),
    ("NeuralRDMs labels of an unknown region", lambda p, s, t: nw.NeuralRDMs({"IT": rdm_stack()}, IDS8,
                                                                             labels={"it": [{}] * 3}),
     ValueError, r"labels for region\(s\) \['it'\]"),
    ("NeuralRDMs strings", lambda p, s, t: nw.NeuralRDMs({"IT": [["x"] * 8] * 8}, IDS8), TypeError,
     r"numeric array"),
    ("NeuralResponses duplicated id", lambda p, s, t: NeuralResponses(np.zeros((8, 3)), list("aacdefgh")),
     ValueError, r"repeated: \['a'\].*third axis"),
    ("NeuralResponses strings", lambda p, s, t: NeuralResponses([["x"] * 3] * 8, IDS8), TypeError, r"numeric array"),
    ("NeuralResponses +inf", lambda p, s, t: NeuralResponses(np.full((8, 3), np.inf), IDS8), ValueError,
     r"infinite value.*drop or fix"),
    ("netCDF missing", lambda p, s, t: NeuralResponses.from_netcdf(t / "none.nc"), FileNotFoundError, r"none\.nc"),
    ("netCDF is text", lambda p, s, t: NeuralResponses.from_netcdf(netcdf(t, "text")), ValueError,
     r"text\.nc.*not a netCDF file"),
    ("netCDF is npz", lambda p, s, t: NeuralResponses.from_netcdf(netcdf(t, "npz")), ValueError,
     r"npz\.nc.*not a netCDF file"),
    ("netCDF truncated", lambda p, s, t: NeuralResponses.from_netcdf(netcdf(t, "truncated")), ValueError,
     r"truncated\.nc.*not a netCDF file"),
    ("netCDF wrong dims", lambda p, s, t: NeuralResponses.from_netcdf(netcdf(t, "wrong dims")), ValueError,
     r"wrong dims\.nc.*dims \('presentation', 'neuroid'.*its dims are \('stimulus', 'unit'\)"),
    ("netCDF no stimulus_id", lambda p, s, t: NeuralResponses.from_netcdf(netcdf(t, "no stimulus_id")), ValueError,
     r"no 'stimulus_id' coordinate"),
    ("netCDF two variables", lambda p, s, t: NeuralResponses.from_netcdf(netcdf(t, "two variables")), ValueError,
     r"2 data variables \['a', 'b'\].*from_xarray"),
    # ---- data folders
    ("root does not exist", lambda p, s, t: nw.datasets.kriegeskorte2008(root=t / "nope"), DataFileError,
     r"root=.*nope does not exist"),
    ("root is a file", lambda p, s, t: nw.datasets.kriegeskorte2008(root=netcdf(t, "text")), DataFileError,
     r"is a file"),
    ("root an int", lambda p, s, t: nw.datasets.kriegeskorte2008(root=5), TypeError, r"root must be the path"),
    # ---- attribution parameters: a short summary of the value, never the whole tensor
    ("IG baseline tensor of the wrong size", lambda p, s, t: nw.attribution.attribute(
        p, s, "integrated_gradients", 3, baseline=torch.zeros(1, 3, 16, 16)),
     ValueError, r"baseline tensor of shape \(1, 3, 16, 16\) does not fit 6 image\(s\) of shape \(3, 32, 32\); "
                 r"give \(3, 32, 32\) or \(1, 3, 32, 32\) .* or \(6, 3, 32, 32\)"),
    ("n_steps array", lambda p, s, t: nw.attribution.attribute(p, s, "integrated_gradients", 3,
                                                               n_steps=np.arange(100)),
     TypeError, r"'n_steps' must be an int, got a ndarray of shape \(100,\), dtype int64$"),
    # ---- names given where lists are expected, None where data are expected
    ("sanity blocks as one string", lambda p, s, t: nw.attribution.sanity_check(p, s[:1], "saliency", 3,
                                                                               blocks="layer9"),
     KeyError, r"unknown layer 'layer9'"),
    ("split-half of None", lambda p, s, t: nw.alignment.split_half_consistency(None), TypeError, r"got None"),
    ("rdm of None", lambda p, s, t: nw.alignment.rdm(None), TypeError, r"None"),
]


@pytest.mark.parametrize("call, kind, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(resnet20, stim, tmp_path, monkeypatch, call, kind,
                                                          message):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = snapshot(resnet20.module)
    files_before = sorted(tmp_path.rglob("*"))
    with pytest.raises(kind) as err:
        call(resnet20, stim, tmp_path)
    text = str(err.value.args[0]) if isinstance(err.value, KeyError) else str(err.value)
    assert re.search(message, text), f"message {text!r} does not match {message!r}"
    assert not RAW_INTERNALS.search(text), f"raw library internals in {text!r}"
    assert len(text) < 600, "an error message must be short"
    assert_untouched(resnet20.module, before)
    new = [p for p in sorted(tmp_path.rglob("*")) if p not in files_before and p.suffix != ".nc"
           and "matplotlib" not in p.parts and p != tmp_path / "cache"]  # captum imports matplotlib: its font cache
    assert new == [], f"files written: {new}"


# ---- behaviour behind the table -------------------------------------------------------------------------------
def test_progress_of_the_wrong_arity_is_refused_before_any_forward_pass():
    calls = []
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU())
    model.register_forward_pre_hook(lambda m, i: calls.append(1))
    probe = nw.Probe(model, nw.InputSpec(size=8))
    calls.clear()
    images = np.zeros((3, 8, 8, 3), np.uint8)
    with pytest.raises(TypeError, match=r"progress\(done, total\)"):
        probe.activations(images, "0", progress=lambda done: None)
    with pytest.raises(TypeError, match=r"progress\(done, total\)"):
        probe.predict(images, progress=lambda done: None)
    assert calls == [], "the model ran before the bad progress callback was refused"
    probe.activations(images, "0")  # now a cache hit: the bad callback is still refused
    with pytest.raises(TypeError, match=r"progress\(done, total\)"):
        probe.activations(images, "0", progress=lambda a, b, c: None)
    seen = []
    probe.activations(images, "0", progress=lambda done, total, **extra: seen.append(done), use_cache=False)
    probe.predict(images, progress=lambda *args: seen.append(args[0]))
    assert seen == [3, 3]


def test_model_with_parameters_on_several_devices_is_refused():
    from neuro_widgets.engine.probe import check_devices

    stub = SimpleNamespace(parameters=lambda: iter([SimpleNamespace(device=torch.device("cuda", 0))]),
                           buffers=lambda: iter([SimpleNamespace(device=torch.device("cpu"))]))
    with pytest.raises(ValueError, match=r"several devices \(cpu, cuda:0\).*model.to\('cpu'\)"):
        check_devices(stub)
    check_devices(nn.Linear(2, 2))  # one device: fine


def test_read_only_cache_folder_names_the_folder_and_the_fixes(tmp_path, monkeypatch):
    """A cache folder we cannot write to: a DataFileError naming it and the three ways around it, and nothing
    written. (Running as root ignores file modes, so the refusal of the OS is simulated where needed.)"""
    monkeypatch.delenv("NEURO_WIDGETS_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "cache/neuro_widgets/data/testset"
    folder.mkdir(parents=True)
    os.chmod(folder, 0o555)
    real_mkstemp = fetch.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if Path(dir) == folder:
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(fetch.tempfile, "mkstemp", mkstemp)
    spec = RemoteFile("data", "testset", "blob.bin", "http://127.0.0.1:9/blob.bin", "0" * 64)
    try:
        with pytest.raises(DataFileError) as err:
            fetch.locate(spec, progress=False)
    finally:
        os.chmod(folder, 0o755)
    text = str(err.value)
    assert str(folder) in text and "Permission denied" in text
    assert "XDG_CACHE_HOME" in text and "NEURO_WIDGETS_HOME" in text and "root=" in text
    assert list(folder.iterdir()) == []


def test_cache_folder_that_cannot_be_created_names_it(tmp_path, monkeypatch):
    monkeypatch.delenv("NEURO_WIDGETS_HOME", raising=False)
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = RemoteFile("data", "testset", "blob.bin", "http://127.0.0.1:9/blob.bin", "0" * 64)
    with pytest.raises(DataFileError, match=r"cannot write to the download cache folder .*XDG_CACHE_HOME"):
        fetch.locate(spec, progress=False)


def test_attribution_parameter_messages_summarise_values():
    from neuro_widgets.engine.attribution.registry import METHODS

    param = METHODS["integrated_gradients"].param("baseline")
    with pytest.raises(ValueError, match=r"got a tensor of shape \(1, 3, 224, 224\), dtype torch.float32$"):
        param.check("integrated_gradients", torch.zeros(1, 3, 224, 224))
    with pytest.raises(ValueError) as err:
        param.check("integrated_gradients", "x" * 1000)
    assert "'xxxx" in str(err.value) and len(str(err.value)) < 200


def test_zoo_arguments_are_checked_before_building_anything():
    with pytest.raises(TypeError, match="seed must be an integer"):
        nw.load_model("cifar_resnet20", pretrained=False, seed="x")
    with pytest.raises(TypeError, match="pretrained must be True or False"):
        nw.load_model("cifar_resnet20", pretrained="yes")
    with pytest.raises(ValueError, match="has no weights 'IMAGENET2'; use one of DEFAULT, IMAGENET1K_V1"):
        nw.load_model("torchvision:alexnet", weights="IMAGENET2")
