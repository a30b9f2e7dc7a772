"""Stimulus sets: construction from arrays, PIL images, files and folders; bad inputs; preprocessing."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import neuro_widgets as nw


def rgb(n=4, h=8, w=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_from_arrays_ids_metadata_fingerprint():
    imgs = rgb()
    s = nw.StimulusSet.from_arrays(imgs, ids=list("abcd"), metadata={"animate": [1, 0, 1, 0]})
    assert len(s) == 4 and s.images.shape == (4, 8, 10, 3) and s.images.dtype == np.uint8
    assert s.ids == list("abcd") and s.metadata["animate"].tolist() == [1, 0, 1, 0]
    assert s.fingerprint == nw.StimulusSet.from_arrays(imgs.copy(), ids=list("abcd")).fingerprint
    other = imgs.copy()
    other[0, 0, 0, 0] ^= 1
    assert s.fingerprint != nw.StimulusSet.from_arrays(other, ids=list("abcd")).fingerprint
    sub = s[[2, 0]]
    assert sub.ids == ["c", "a"] and sub.metadata["animate"].tolist() == [1, 1]
    np.testing.assert_array_equal(sub.images[0], imgs[2])
    assert s.index_of(["d", "b"]).tolist() == [3, 1]
    with pytest.raises(KeyError, match="'zz'"):
        s.index_of(["a", "zz"])


def test_gray_rgba_and_float_inputs():
    gray = rgb()[..., 0]
    s = nw.StimulusSet.from_arrays(gray)
    assert s.images.shape == (4, 8, 10, 3)
    np.testing.assert_array_equal(s.images[..., 1], gray)
    rgba = np.concatenate([rgb(), np.full((4, 8, 10, 1), 255, np.uint8)], axis=-1)
    np.testing.assert_array_equal(nw.StimulusSet.from_arrays(rgba).images, rgb())
    f = rgb() / 255.0
    np.testing.assert_array_equal(nw.StimulusSet.from_arrays(f).images, rgb())


def test_from_images_pil_paths_and_folder(tmp_path):
    imgs = rgb(3, 12, 12)
    for i, im in enumerate(imgs):
        Image.fromarray(im).save(tmp_path / f"img_{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    s = nw.StimulusSet.from_folder(tmp_path)
    assert s.ids == ["img_0", "img_1", "img_2"]
    np.testing.assert_array_equal(s.images, imgs)
    pil = [Image.fromarray(im) for im in imgs]
    np.testing.assert_array_equal(nw.StimulusSet.from_images(pil).images, imgs)
    Image.fromarray(rgb(1, 20, 16)[0]).save(tmp_path / "img_3.png")
    with pytest.raises(ValueError, match="different sizes.*size="):
        nw.StimulusSet.from_folder(tmp_path)
    resized = nw.StimulusSet.from_folder(tmp_path, size=(12, 12))
    assert resized.images.shape == (4, 12, 12, 3)
    np.testing.assert_array_equal(resized.images[:3], imgs)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
    (np.zeros((8, 8), np.uint8), r"\(N, H, W, C\)"),
    (np.zeros((2, 8, 8, 2), np.uint8), "1 \\(gray\\), 3 \\(RGB\\) or 4"),
    (np.zeros((2, 3, 8, 8), np.uint8), "channels-first"),
    (np.zeros((2, 8, 8, 5, 1), np.uint8), r"\(N, H, W, C\)"),
    (np.full((2, 8, 8, 3), np.nan), "NaN pixels"),
    (np.full((2, 8, 8, 3), 3.0), r"\[0, 1\]"),
])
def test_bad_images(bad, message):
    with pytest.raises(ValueError, match=message):
        nw.StimulusSet.from_arrays(bad)


def test_bad_ids_and_metadata():
    with pytest.raises(ValueError, match="metadata column 'animate' has 3 values but there are 4"):
        nw.StimulusSet.from_arrays(rgb(), metadata={"animate": [1, 0, 1]})
    with pytest.raises(ValueError, match="3 ids for 4 images"):
        nw.StimulusSet.from_arrays(rgb(), ids=["a", "b", "c"])
    with pytest.raises(ValueError, match="unique"):
        nw.StimulusSet.from_arrays(rgb(), ids=["a", "a", "b", "c"])
    with pytest.raises(ValueError, match="empty"):
        nw.StimulusSet.from_images([])


def test_preprocess_resizes_normalises_and_caches():
    imgs = np.zeros((2, 64, 64, 3), np.uint8)
    imgs[:, :, 32:] = 255  # right half white
    s = nw.StimulusSet.from_arrays(imgs)
    spec = nw.InputSpec(size=(16, 16), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = s.preprocess(spec)
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    torch.testing.assert_close(x[0, 0, 0, 0], torch.tensor(-2.0))  # (0 - 0.5) / 0.25
    torch.testing.assert_close(x[0, 0, 0, -1], torch.tensor(2.0))
    assert s.preprocess(spec) is x, "preprocessing is done once per spec"
    torch.testing.assert_close(s.preprocess(spec, slice(1, 2)), x[1:2])
    # the antialiased resize averages: a one-pixel checkerboard becomes flat gray
    checker = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    flat = nw.StimulusSet.from_arrays(checker[None]).preprocess(nw.InputSpec(size=(8, 8)))
    assert float(flat.std()) < 0.02 and abs(float(flat.mean()) - 0.5) < 0.02


def test_thumbnails_are_small_pngs():
    s = nw.StimulusSet.from_arrays(rgb(2, 100, 50))
    thumbs = s.thumbnails(32)
    assert len(thumbs) == 2 and thumbs[0][:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(thumbs[0])).size == (16, 32)


def test_one_rgb_image_is_one_image_and_grayscale_stacks_still_work():
    one = rgb(1, 32, 32)[0]  # (32, 32, 3): one image, not 32 grayscale images of 32x3
    s = nw.StimulusSet.from_arrays(one)
    assert len(s) == 1 and s.images.shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(s.images[0], one)
    rgba = np.concatenate([one, np.full((32, 32, 1), 255, np.uint8)], axis=-1)
    np.testing.assert_array_equal(nw.StimulusSet.from_arrays(rgba).images[0], one)
    np.testing.assert_array_equal(nw.StimulusSet.from_arrays(torch.from_numpy(one / 255.0)).images[0], one)
    gray = rgb(4, 8, 5)[..., 0]  # (N, H, W) with W not 3 or 4: N grayscale images
    assert nw.StimulusSet.from_arrays(gray).images.shape == (4, 8, 5, 3)
    narrow = rgb(4, 8, 3)[..., :1]  # grayscale images 3 pixels wide go as (N, H, W, 1)
    assert nw.StimulusSet.from_arrays(narrow).images.shape == (4, 8, 3, 3)
    chw = torch.from_numpy(one).permute(2, 0, 1)  # a tensor's own layout for one image: refused, not 3 images
    with pytest.raises(ValueError, match=r"one channels-first image.*permute\(1, 2, 0\)"):
        nw.StimulusSet.from_arrays(chw)
    np.testing.assert_array_equal(nw.StimulusSet.from_arrays(chw.permute(1, 2, 0)).images[0], one)


def test_the_callers_array_is_left_as_it_was():
    imgs = rgb()
    s = nw.StimulusSet.from_arrays(imgs)
    assert imgs.flags.writeable, "the caller's array must stay writable"
    assert not s.images.flags.writeable
    imgs[0] = 0
    assert s.images[0].any(), "the set keeps its own pixels"


def test_binary_images_are_black_and_white():
    mask = np.zeros((2, 5, 6), bool)
    mask[:, :2] = True
    s = nw.StimulusSet.from_arrays(mask)
    assert s.images[0, 0, 0].tolist() == [255, 255, 255] and s.images[0, 4, 0].tolist() == [0, 0, 0]


def test_input_spec_normalisation_follows_channels():
    gray = nw.InputSpec(size=8, channels=1)
    assert gray.mean == (0.0,) and gray.std == (1.0,)
    assert nw.InputSpec(size=8).mean == (0.0, 0.0, 0.0)
    assert nw.InputSpec(size=8, channels=1, mean=0.5, std=[0.25]).std == (0.25,)
    assert nw.InputSpec(size=8, mean=0.5).mean == (0.5, 0.5, 0.5)
    imgs = np.zeros((1, 8, 8, 3), np.uint8)
    imgs[..., 0] = 255  # pure red: gray is the mean of RGB, 1/3
    x = nw.StimulusSet.from_arrays(imgs).preprocess(nw.InputSpec(size=8, channels=1, mean=0.5, std=0.25))
    assert x.shape == (1, 1, 8, 8)
    torch.testing.assert_close(x, torch.full((1, 1, 8, 8), (1 / 3 - 0.5) / 0.25))
