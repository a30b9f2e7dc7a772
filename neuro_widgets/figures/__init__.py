"""Publishable matplotlib figures of the engine's results, in one house style (see :mod:`.style`).

Every ``plot_*`` returns a ``matplotlib.figure.Figure`` (drawn on ``ax`` when given); :func:`save` writes
PNG, SVG or PDF by suffix. Result objects expose the same figures as ``result.plot()`` / ``result.save(path)``.
"""
from .attribution import plot_attribution, plot_attribution_methods, plot_layer_contributions, plot_sanity_check
from .ceiling import plot_noise_ceiling
from .featurevis import plot_contact_sheet, plot_dataset_examples
from .neurons import plot_neuron_predictivity, plot_neuron_readout, plot_neuron_wants
from .physiology import (plot_category_selectivity, plot_channel_physiology, plot_contrast_response, plot_rf_maps,
                         plot_size_tuning, plot_tuning_survey)
from .rdm import plot_rdm, plot_rdms
from .save import save, to_bytes
from .style import OKABE_ITO, SIGNED_CMAP, UNSIGNED_CMAP, house_style
from .sweep import plot_sweep

__all__ = ["OKABE_ITO", "SIGNED_CMAP", "UNSIGNED_CMAP", "house_style", "plot_attribution", "plot_attribution_methods",
           "plot_category_selectivity", "plot_channel_physiology", "plot_contact_sheet", "plot_contrast_response",
           "plot_dataset_examples", "plot_layer_contributions", "plot_neuron_predictivity", "plot_neuron_readout",
           "plot_neuron_wants", "plot_noise_ceiling", "plot_rdm", "plot_rdms", "plot_rf_maps", "plot_sanity_check",
           "plot_size_tuning", "plot_sweep", "plot_tuning_survey", "save", "to_bytes"]
