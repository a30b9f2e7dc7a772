"""The real neural data sets: stimuli plus neural data, found locally or downloaded (see :mod:`.fetch`).

RDM-level: :func:`kriegeskorte2008`, :func:`algonauts2019_78`. Response-level (every alignment metric applies):
:func:`cowley2023_v4`. Stimuli only: :func:`floc`.
"""
from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np

from ..engine.alignment.neural_data import NeuralResponses
from ..engine.neural import NeuralRDMs
from ..engine.stimuli import StimulusSet
from .fetch import DataFileError, RemoteFile, locate

_RSATOOLBOX = "https://raw.githubusercontent.com/rsagroup/rsatoolbox/main/demos/92imageData/"
_NET2BRAIN = "https://raw.githubusercontent.com/cvai-roig-lab/Net2Brain/main/net2brain/tests/data/"
_COWLEY = "https://raw.githubusercontent.com/cowleygroup/V4_compact_models/main/data_V4_responses/"
_FLOC = "https://raw.githubusercontent.com/VPNL/fLoc/master/stimuli/"


@dataclass
class Dataset:
    """A stimulus set with the neural data recorded for it (stimulus order = neural data order): RDM-level
    (:class:`~neuro_widgets.engine.neural.NeuralRDMs`) or response-level
    (:class:`~neuro_widgets.engine.alignment.neural_data.NeuralResponses`)."""

    name: str
    stimuli: StimulusSet
    neural: Union[NeuralRDMs, NeuralResponses]
    citation: str = ""

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {len(self.stimuli)} stimuli, regions {self.neural.regions})"


def _mat_str(x: Any) -> str:
    return str(np.asarray(x).ravel()[0])


def _sha_table(name: str) -> Dict[str, str]:
    """A sha256 table shipped with the package: file path -> digest."""
    return json.loads(Path(__file__).with_name(name).read_text())


# ---- Kriegeskorte et al. 2008 -------------------------------------------------------------------------
_K_SUPP = RemoteFile("data", "kriegeskorte2008", "Kriegeskorte_Neuron2008_supplementalData.mat",
                     _RSATOOLBOX + "Kriegeskorte_Neuron2008_supplementalData.mat",
                     "06f21214399a5d43dc264eed19a7f4b8daf11c8622a59eec3e106064ce5e3504")
_K_BRAIN = RemoteFile("data", "kriegeskorte2008", "92_brainRDMs.mat", _RSATOOLBOX + "92_brainRDMs.mat",
                      "1743f90a15e895798a94318649e80e1123a7e5943a1703fa1dd7c31ea5780b7c")


def kriegeskorte2008(root: Optional[os.PathLike] = None) -> Dataset:
    """92 object images with monkey-IT (1 RDM, 674 neurons) and human-IT (fMRI, 4 subjects x 2 sessions) RDMs.

    Kriegeskorte, Mur, Ruff et al. (2008), Neuron 60(6), as redistributed by rsatoolbox. Metadata columns:
    ``category`` (string), the flags ``human``, ``face``, ``animal``, ``natural``, and the 12 category
    vectors (``animate``, ``inanim``, ``body``, ``face_cv``, …).

    >>> ds = nw.datasets.kriegeskorte2008()
    >>> ds.neural.rdms("hIT").shape     # (8, 92, 92)
    """
    from scipy.io import loadmat
    from scipy.spatial.distance import squareform

    supp = loadmat(locate(_K_SUPP, root))
    brain = loadmat(locate(_K_BRAIN, root))
    objs = supp["stimuli_92objs"][0]
    images = np.stack([np.asarray(o["image"], dtype=np.uint8) for o in objs])
    meta: dict = {"category": np.array([_mat_str(o["category"]) for o in objs])}
    for flag in ("human", "face", "animal", "natural"):
        meta[flag] = np.array([bool(np.asarray(o[flag]).ravel()[0]) for o in objs])
    labels = [_mat_str(lab) for lab in supp["categoryLabels"].ravel()]
    vectors = np.asarray(supp["categoryVectors"], dtype=bool)
    for j, lab in enumerate(labels):
        meta[lab if lab not in meta else f"{lab}_cv"] = vectors[:, j]
    ids = [f"{i + 1:02d}" for i in range(len(images))]
    stimuli = StimulusSet(images, ids=ids, metadata=meta, name="kriegeskorte2008")

    fig1 = {_mat_str(r["name"]): squareform(np.asarray(r["RDM"], dtype=np.float64).ravel())
            for r in supp["RDMs_mIT_hIT_fig1"][0]}
    mit = next(v for k, v in fig1.items() if k.startswith("mIT"))
    raw = brain["RDMs"][0]  # (subjects, sessions)
    hit, hit_labels = [], []
    for subj in range(raw.shape[0]):
        for sess in range(raw.shape[1]):
            entry = raw[subj, sess]
            m = re.match(r"hIT \| (\w+) \| Session: (\d+)", _mat_str(entry["name"]))
            hit.append(np.asarray(entry["RDM"], dtype=np.float64))
            hit_labels.append({"subject": m.group(1) if m else str(subj),
                               "session": int(m.group(2)) if m else sess + 1})
    neural = NeuralRDMs(
        {"mIT": mit[None], "hIT": np.stack(hit)}, stimulus_ids=ids,
        labels={"mIT": [{"subject": "monkeys", "session": 0}], "hIT": hit_labels},
        description="mIT: 674 neurons (one RDM); hIT: fMRI 316 voxels, 4 subjects x 2 sessions; "
                    "dissimilarity 1 - Pearson r",
    )
    return Dataset("kriegeskorte2008", stimuli, neural,
                   citation="Kriegeskorte, Mur, Ruff, Kiani, Bodurka, Esteky, Tanaka & Bandettini (2008). "
                            "Neuron 60(6), 1126-1141.")


# ---- Algonauts 2019, 78 images --------------------------------------------------------------------------
_A_RDM = {
    region: RemoteFile("data", "algonauts2019_78", f"fmri_{region}_RDMs.npz",
                       _NET2BRAIN + f"brain_data/fmri_{region}_RDMs.npz", sha)
    for region, sha in (("EVC", "c927ba9793234c4bf4845320ac66fbfbe85ec9afc4df9b12ca2a006dae753672"),
                        ("IT", "b27cc1c7f87428516fabb4a67e0c1aafe3e6a7de4667e35b5b141e3582e53900"))
}


def _algonauts_images() -> list:
    table = _sha_table("algonauts2019_78_stimuli.sha256.json")
    return [RemoteFile("data", "algonauts2019_78", f"stimuli/{name}", _NET2BRAIN + f"stimuli_data/{name}", sha)
            for name, sha in sorted(table.items())]


def algonauts2019_78(root: Optional[os.PathLike] = None) -> Dataset:
    """78 images with human fMRI RDMs of early visual cortex (EVC) and IT, 15 subjects each.

    From the Algonauts Project 2019 (Cichy, Roig, Andonian et al.), as redistributed by Net2Brain. The
    images are about 400x400 RGB (resized to exactly 400x400); ids ``image_01`` … ``image_78`` in RDM row order. A noisy set (noise ceiling
    near 0.06): the case for reading scores against their ceiling.
    """
    files = _algonauts_images()
    paths = [locate(f, root) for f in files]
    stimuli = StimulusSet.from_images(paths, ids=[Path(f.relpath).stem for f in files], size=(400, 400),
                                     name="algonauts2019_78")
    rdms = {region: np.load(locate(spec, root))["arr_0"] for region, spec in _A_RDM.items()}
    labels = {region: [{"subject": i + 1} for i in range(len(a))] for region, a in rdms.items()}
    neural = NeuralRDMs(rdms, stimulus_ids=stimuli.ids, labels=labels,
                        description="fMRI RDMs of 15 subjects for EVC and IT")
    return Dataset("algonauts2019_78", stimuli, neural,
                   citation="Cichy, Roig, Andonian, Dwivedi, Lahner, Lascelles, Mohsenzadeh, Ramakrishnan & "
                            "Oliva (2019). The Algonauts Project. arXiv:1905.05675.")


# ---- Cowley, Stan, Pillow & Smith 2023: macaque V4, response level ----------------------------------------
_C_RESPONSES = RemoteFile("data", "cowley2023_v4", "responses_210325.npy",
                          _COWLEY + "responses_raw/responses_210325.npy",
                          "4008dbbf31a47d9b1b8d8da609f4a7a3433c7071f0e45c611c220b217dd75b76")
_C_IMAGES = RemoteFile("data", "cowley2023_v4", "images_210325.zip", _COWLEY + "images/images_210325.zip",
                       "992774eca3508a2ad01accb1a31f5f3e3d90248c49f4eec314f2a915a263e454")


def cowley2023_v4(root: Optional[os.PathLike] = None) -> Dataset:
    """50 macaque V4 neurons x 640 natural images (112x112) x 6-10 repetitions: real spike counts (100 ms bins).

    Response-level data (:class:`~neuro_widgets.engine.alignment.neural_data.NeuralResponses`, region ``"V4"``,
    one recording session), so every alignment metric applies: encoding models, CKA, RSA on response RDMs
    and the split-half ceiling. Images had different numbers of repetitions: the repetition axis holds up to 10,
    NaN-padded (``neural.present`` marks the real ones; ``neural.mean()`` averages those). From
    cowleygroup/V4_compact_models (session 210325); the data are GPL-3.0, downloaded from there, never bundled.

    >>> ds = nw.datasets.cowley2023_v4()
    >>> ds.neural.data.shape     # (640, 50, 10)
    >>> res = nw.alignment.sweep(probe, ds, metric="encoding")
    """
    raw = np.load(locate(_C_RESPONSES, root), allow_pickle=False)  # (neurons, images, repetitions)
    with zipfile.ZipFile(locate(_C_IMAGES, root)) as archive:
        names = sorted(n for n in archive.namelist() if n.lower().endswith(".jpg"))
        if raw.ndim != 3 or len(names) != raw.shape[1]:
            raise DataFileError(f"{_C_IMAGES.relpath} holds {len(names)} images but {_C_RESPONSES.relpath} has shape "
                                f"{raw.shape} (expected neurons x {len(names)} images x repetitions)")
        from PIL import Image

        images = [Image.open(io.BytesIO(archive.read(n))) for n in names]
        ids = [Path(n).stem for n in names]
        stimuli = StimulusSet.from_images(images, ids=ids, name="cowley2023_v4")
    n_neurons = raw.shape[0]
    neural = NeuralResponses(
        raw.transpose(1, 0, 2), ids,
        {"region": np.array(["V4"] * n_neurons), "neuroid_id": np.array([f"210325_{i:02d}" for i in range(n_neurons)]),
         "session": np.array(["210325"] * n_neurons)},
        name="cowley2023_v4 spike counts")
    return Dataset("cowley2023_v4", stimuli, neural,
                   citation="Cowley, Stan, Pillow & Smith (2023). Compact deep neural network models of visual "
                            "cortex. bioRxiv 2023.11.")


# ---- fLoc category localizer, a subset ---------------------------------------------------------------------
def floc(root: Optional[os.PathLike] = None) -> StimulusSet:
    """The fLoc category-localizer subset: 220 greyscale images (256x256, as RGB), 20 per category.

    Stigliani, Weiner & Grill-Spector (2015), J. Neurosci. 35(36); stimuli of VPNL/fLoc. Metadata ``category``:
    adult, body, car, child, corridor, house, instrument, limb, number, scrambled, word (images in that order,
    file names sorted within a category; ids are the file names without suffix, e.g. ``adult-1``). For in-silico
    category selectivity of model units. Stimuli only (no neural data).

    The files are 256x256 Lanczos-resized copies of the first 20 sorted file names per category; only the
    1024x1024 originals are published, so they are read from ``root=`` or ``$NEURO_WIDGETS_HOME/data/floc_subset/``
    (sha256-checked), never downloaded.

    >>> floc = nw.datasets.floc()
    >>> floc.metadata["category"][:3]
    """
    table = _sha_table("floc_subset.sha256.json")
    files = [RemoteFile("data", "floc_subset", rel, _FLOC + rel, sha) for rel, sha in table.items()]
    try:
        paths = [locate(f, root, download=False) for f in files]
    except DataFileError as err:
        raise DataFileError(
            f"{err}. The fLoc subset is not downloaded: its files are 256x256 copies of images published only at "
            f"1024x1024 ({_FLOC}<category>/<file>). Put the subset folder (<category>/<file>.jpg) at "
            "$NEURO_WIDGETS_HOME/data/floc_subset/ or pass root= that folder."
        ) from err
    categories = [rel.split("/", 1)[0] for rel in table]
    return StimulusSet.from_images(paths, ids=[Path(rel).stem for rel in table], metadata={"category": categories},
                                   name="floc")


# data sets too large for memory: written to one netCDF-4 file and read batch by batch (see .streaming)
from .streaming import open_dataset, write_dataset  # noqa: E402,F401
