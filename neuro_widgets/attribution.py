"""``nw.attribution``: the public face of the attribution engine (see ``neuro_widgets.engine.attribution``).

>>> import neuro_widgets as nw
>>> probe = nw.load_model("cifar_resnet20")
>>> [m.name for m in nw.attribution.methods()]
>>> res = nw.attribution.attribute(probe, images, "integrated_gradients", target="predicted", auto_steps=True)
>>> bars = nw.attribution.layer_contributions(probe, "layer3", images, target=3)
>>> curve = nw.attribution.sanity_check(probe, images[:4], "saliency")
"""
from .engine.attribution import *  # noqa: F401,F403
from .engine.attribution import __all__  # noqa: F401
