"""Public namespace ``nw.alignment``: RSA, encoding models, CKA, noise ceilings, statistics, sweeps.

>>> import neuro_widgets as nw
>>> ds = nw.datasets.kriegeskorte2008()
>>> res = nw.alignment.sweep(nw.load_model("cifar_resnet20"), ds, metric="rsa", control="random")
"""
from .engine.alignment import *  # noqa: F403  (this module is the public face of the engine package)
from .engine.alignment import __all__  # noqa: F401
