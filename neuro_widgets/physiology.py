"""Public namespace ``nw.physiology``: in-silico physiology of a layer's units — orientation / SF tuning,
simple vs complex, receptive fields, contrast and size tuning, category selectivity.

>>> import neuro_widgets as nw
>>> probe = nw.load_model("mobilenet_v1_025")
>>> survey = nw.physiology.tuning_survey(probe, "stage1.0.0")     # 12 orientations x 8 SFs x 8 phases
>>> survey.summary()["osi_median"], survey.channel(0)["cell_type"]
>>> sel = nw.physiology.category_selectivity(probe, "stage3", control="random")   # fLoc faces/bodies/places/words
"""
from .engine.physiology import *  # noqa: F403  (this module is the public face of the engine package)
from .engine.physiology import __all__  # noqa: F401
