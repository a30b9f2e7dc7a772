"""Brain alignment: RSA, encoding models, CKA, noise ceilings, statistics and layer x region sweeps."""
from .ceiling import (
    CEILING_FORMULAS,
    Consistency,
    RSACeiling,
    ceiled,
    noise_ceiling,
    split_half_consistency,
)
from .cka import cka
from .compare import COMPARE_METHODS, compare_rdms
from .control import random_copy
from .cross_validation import CrossValidation, half_split, shuffle_splits
from .encoding import EncodingMetric, EncodingScore, InternalConsistency, encoding_score, pearson_r
from .mapping import EstimatorMapping, Mapping, PLSMapping, RidgeMapping
from .metrics import METRIC_SPECS, CKAMetric, RSAMetric
from .neural_data import NeuralResponses, from_rsatoolbox, subject_groups, to_rsatoolbox
from .predictivity import NeuronPredictivity, neuron_predictivity
from .rdm import RDM_METHOD_LABELS, RDM_METHODS, ModelRDMs, rdm
from .readout import NeuronReadout, fit_readout
from .regression import DEFAULT_ALPHAS, LinearMap, pls_fit, ridge_fit, standardize_features
from .results import BestLayer, Difference, LayerScore, SweepResult
from .stats import bootstrap_rsa, percentile_ci, permutation_test
from .sweep import METRICS, default_layers, sweep

__all__ = [
    "CKAMetric", "CrossValidation", "EncodingMetric", "EstimatorMapping", "InternalConsistency", "Mapping",
    "PLSMapping", "RSAMetric", "RidgeMapping", "pearson_r",
    "CEILING_FORMULAS", "COMPARE_METHODS", "DEFAULT_ALPHAS", "METRICS", "METRIC_SPECS", "RDM_METHOD_LABELS",
    "RDM_METHODS", "BestLayer", "Consistency", "Difference", "EncodingScore", "LayerScore", "LinearMap", "ModelRDMs",
    "NeuralResponses", "NeuronPredictivity", "NeuronReadout", "RSACeiling", "SweepResult",
    "bootstrap_rsa", "ceiled", "cka", "compare_rdms", "default_layers", "encoding_score", "fit_readout", "from_rsatoolbox",
    "half_split", "neuron_predictivity", "noise_ceiling", "percentile_ci", "permutation_test", "pls_fit", "random_copy", "rdm",
    "ridge_fit", "shuffle_splits", "split_half_consistency", "standardize_features", "subject_groups", "sweep", "to_rsatoolbox",
]
