"""The real neural data sets: stimuli plus neural data, found locally or downloaded (see :mod:`.fetch`)."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..engine.neural import NeuralRDMs
from ..engine.stimuli import StimulusSet
from .fetch import RemoteFile, locate

_RSATOOLBOX = "https://raw.githubusercontent.com/rsagroup/rsatoolbox/main/demos/92imageData/"
_NET2BRAIN = "https://raw.githubusercontent.com/cvai-roig-lab/Net2Brain/main/net2brain/tests/data/"


@dataclass
class Dataset:
    """A stimulus set with the neural data recorded for it (stimulus order = neural data order)."""

    name: str
    stimuli: StimulusSet
    neural: NeuralRDMs
    citation: str = ""

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {len(self.stimuli)} stimuli, regions {self.neural.regions})"


def _mat_str(x: Any) -> str:
    return str(np.asarray(x).ravel()[0])


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
    table = json.loads((Path(__file__).with_name("algonauts2019_78_stimuli.sha256.json")).read_text())
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
