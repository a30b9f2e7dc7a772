""""Copy as code": the exact engine call that reproduces what a panel shows, with its settings.

The snippets assume the names a notebook has: ``nw`` (the package), ``probe`` (the model's Probe), ``stimuli``
(the StimulusSet) and ``neural`` (the neural data, e.g. ``dataset.neural``).
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Sequence


def _kwargs(settings: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in settings.items())


def _channels(channels: Sequence[int]) -> str:
    ch = list(channels)
    if len(ch) > 2 and ch == list(range(ch[0], ch[-1] + 1)):
        return f"list(range({ch[0]}, {ch[-1] + 1}))"
    return repr(ch)


def render_layer(layer: str, channels: Sequence[int], settings: Dict[str, Any]) -> str:
    return (f"sheet = nw.featurevis.render_layer(probe, {layer!r}, channels={_channels(channels)}, "
            f"{_kwargs(settings)})\nsheet.images  # (channels, H, W, 3) in [0, 1]")


def channel_detail(layer: str, channel: int, settings: Dict[str, Any], k: int, with_examples: bool) -> str:
    code = f"one = nw.featurevis.render_layer(probe, {layer!r}, channels=[{channel}], {_kwargs(settings)})"
    if with_examples:
        code += f"\nexamples = nw.featurevis.dataset_examples(probe, {layer!r}, stimuli, k={k})"
    return code


def _target(target: Any) -> str:
    """A target as source code (``Unit`` and ``Readout`` live in ``nw.attribution``)."""
    text = repr(target)
    return f"nw.attribution.{text}" if type(target).__name__ in ("Unit", "Readout") else text


def attribute(stimulus: int, method: str, target: Any, params: Dict[str, Any]) -> str:
    extra = (", " + _kwargs(params)) if params else ""
    return f"nw.attribution.attribute(probe, stimuli[{stimulus}], {method!r}, target={_target(target)}{extra})"


def layer_contributions(layer: str, stimulus: int, target: Any) -> str:
    return f"nw.attribution.layer_contributions(probe, {layer!r}, stimuli[{stimulus}], target={_target(target)})"


def sanity_check(stimulus: int, method: str, target: Any) -> str:
    return f"nw.attribution.sanity_check(probe, stimuli[{stimulus}], {method!r}, target={_target(target)})"


def sweep(layers: Sequence[str], settings: Dict[str, Any]) -> str:
    return (f"table = nw.alignment.sweep(probe, neural, stimuli=stimuli, layers={list(layers)!r}, "
            f"{_kwargs(settings)})")


def rdms(layer: str, region: str, rdm_level: bool) -> str:
    if not region:
        return (f"acts = probe.activations(stimuli, [{layer!r}])[{layer!r}]\n"
                f"layer_rdm = nw.alignment.rdm(acts)")
    source = "neural" if rdm_level else "neural.to_rdms()"
    return (f"acts = probe.activations(stimuli[stimuli.index_of(neural.stimulus_ids)], [{layer!r}])[{layer!r}]\n"
            f"layer_rdm = nw.alignment.rdm(acts)\n"
            f"region_rdm = {source}.rdms({region!r}).mean(axis=0)  # mean over subjects")


def with_record(code: str, record: Optional[Dict[str, Any]]) -> str:
    """The call followed by the result's settings record (seed, parameters, versions) as comment lines."""
    if not record:
        return code
    shown = {k: v for k, v in record.items() if k != "arguments"}
    text = json.dumps(shown, default=str, indent=1, sort_keys=True)
    return code + "\n# settings record of the result shown:\n" + "\n".join(f"# {line}" for line in text.splitlines())


def neuron_wants(layer: str, neuron: int, settings: Dict[str, Any]) -> str:
    return (f"want = nw.featurevis.neuron_wants(probe, stimuli, neural, {layer!r}, {neuron}, {_kwargs(settings)})\n"
            "want.image, want.predicted, want.predicted_spread, want.readout.heldout_r")


def physiology_survey(layer: str, settings: Dict[str, Any]) -> str:
    return (f"survey = nw.physiology.tuning_survey(probe, {layer!r}, {_kwargs(settings)})\n"
            "survey.summary()  # histograms of preferred orientation, OSI, F1/F0; the oblique effect")


def physiology_channel(layer: str, channel: int, settings: Dict[str, Any]) -> str:
    ppd = settings.get("pixels_per_degree")
    return (f"survey = nw.physiology.tuning_survey(probe, {layer!r}, {_kwargs(settings)})\n"
            f"survey.channel({channel})\n"
            f"sparse = nw.physiology.sparse_noise_rf(probe, {layer!r}, [{channel}], pixels_per_degree={ppd!r})\n"
            f"grad = nw.physiology.gradient_rf(probe, {layer!r}, [{channel}], pixels_per_degree={ppd!r})\n"
            "nw.physiology.compare_rfs(sparse, grad)\n"
            f"nw.physiology.contrast_response(probe, {layer!r}, survey, channels=[{channel}]).channel({channel})\n"
            f"nw.physiology.size_tuning(probe, {layer!r}, survey, channels=[{channel}]).channel({channel})")


def physiology_category(layer: str, control: Optional[str]) -> str:
    return (f"sel = nw.physiology.category_selectivity(probe, {layer!r}, control={control!r})  # fLoc images\n"
            "sel.table()")
