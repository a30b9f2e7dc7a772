"""In-silico physiology: tuning, receptive fields, contrast and size tuning, category selectivity."""
from .category import FLOC_DOMAINS, CategorySelectivity, category_selectivity, d_prime
from .contrast import ContrastResponse, contrast_response, fit_naka_rushton, naka_rushton
from .receptive_field import RFMaps, compare_rfs, gradient_rf, sparse_noise_rf
from .size import SizeTuning, size_tuning
from .stimuli import GratingSet, SparseNoiseSet, gratings, sparse_noise
from .summary import layer_summary
from .tuning import TuningSurvey, tuning_survey

__all__ = [
    "FLOC_DOMAINS", "CategorySelectivity", "ContrastResponse", "GratingSet", "RFMaps", "SizeTuning",
    "SparseNoiseSet", "TuningSurvey", "category_selectivity", "compare_rfs", "contrast_response", "d_prime",
    "fit_naka_rushton", "gradient_rf", "gratings", "layer_summary", "naka_rushton", "size_tuning",
    "sparse_noise", "sparse_noise_rf", "tuning_survey",
]
