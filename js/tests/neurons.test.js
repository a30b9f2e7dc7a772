import { describe, it, expect } from "vitest";
import { mount, pngBuffer, baseState } from "./fake_model.js";

const RESULT = {
  layer: "layer3", ids: ["n0", "n1", "n2"], r: [0.2, 0.6, null], reliability: [0.5, 0.8, 0.3], ceiled: [0.4, 0.75, null],
  formula: "r/c", median: 0.4, median_reliability: 0.5, ceiling_r: 0.5,
  curve: { layers: ["conv1", "layer1", "layer3"], median_ceiled: [0.1, 0.3, 0.5] },
};

describe("neurons panel", () => {
  it("lists neurons sorted by held-out r, re-sorts on a header click, and a row click asks what that neuron wants", () => {
    const { model, el } = mount({ ...baseState(["neurons"]), neuron_result: {}, neuron_want: {} });
    model.kernelSet("neuron_result", RESULT);
    const ids = () => [...el.querySelectorAll(".nw-neuron-row")].map((r) => r.firstChild.textContent);
    expect(ids()).toEqual(["n1", "n0", "n2"]);                 // r descending, the missing value last
    el.querySelector('th[data-key="reliability"]').click();
    expect(ids()).toEqual(["n1", "n0", "n2"]);
    el.querySelector('th[data-key="reliability"]').click();    // same column again: ascending
    expect(ids()).toEqual(["n2", "n0", "n1"]);
    el.querySelector('th[data-key="id"]').click();
    expect(ids()).toEqual(["n0", "n1", "n2"]);
    el.querySelector('.nw-neuron-row[data-neuron="1"]').click();
    expect(model.sent.at(-1)).toEqual({ action: "want", neuron: 1 });
    expect(el.querySelector(".nw-neuron-summary").textContent).toContain("median held-out r 0.400 over 3 neurons");
    expect(el.querySelectorAll(".nw-neuron-hist rect").length).toBe(16);
  });

  it("clicking a point of the ceiled curve selects that layer", () => {
    const { model, el } = mount({ ...baseState(["neurons"]), neuron_result: RESULT, neuron_want: {} });
    el.querySelector('.nw-neuron-curve circle[data-layer="layer1"]').dispatchEvent(new MouseEvent("click"));
    expect(model.get("selected_layer")).toBe("layer1");
  });

  it("shows the optimal stimulus with its predicted response and uncertainty beside recorded and predicted images", async () => {
    const { model, el } = mount({ ...baseState(["neurons"]), neuron_result: RESULT, neuron_want: {} });
    const png = await pngBuffer(8, 8);
    const tile = (i, v) => ({ index: i, id: `im${i}`, value: v, image: png });
    model.kernelSet("neuron_want", { neuron: "n1", layer: "layer3", image: png, predicted: 9.5, spread: 0.4, recorded_max: 6.1,
      heldout_r: 0.55, heldout_ci: [0.4, 0.7], n_test: 128, recorded: [tile(3, 6.1), tile(7, 5.2)], model: [tile(7, 4.4)] });
    const want = el.querySelector(".nw-neuron-want");
    expect(want.querySelector(".nw-neuron-predicted").textContent).toContain("9.50 ± 0.40");
    expect(want.textContent).toContain("strongest recorded response 6.10");
    expect(want.textContent).toContain("[0.400, 0.700] on 128 images");
    expect(want.querySelectorAll(".nw-neuron-strip").length).toBe(2);
    expect(want.querySelectorAll(".nw-neuron-strip img").length).toBe(3);
  });
});

describe("neurons panel plots", () => {
  it("the histogram has axis titles, whole-number count ticks and the ceiling at its r", () => {
    const { model, el } = mount({ ...baseState(["neurons"]), neuron_result: {}, neuron_want: {} });
    model.kernelSet("neuron_result", { ...RESULT, ceiling_r: 0.7071 });
    const hist = el.querySelector(".nw-neuron-hist");
    expect(hist.querySelector('[data-axis="x"]').textContent).toBe("held-out r");
    expect(hist.querySelector('[data-axis="y"]').textContent).toBe("neurons");
    expect([...hist.querySelectorAll(".nw-y-axis .nw-tick")].map((t) => Number(t.dataset.tick))).toEqual([0, 1]);
    expect([...hist.querySelectorAll(".nw-hist-bar")].reduce((n, b) => n + Number(b.dataset.count), 0)).toBe(2); // the null r is left out
    const ceiling = hist.querySelector(".nw-ceiling");
    expect(Number(ceiling.dataset.value)).toBe(0.7071);
    const ticks = [...hist.querySelectorAll(".nw-x-axis .nw-tick")];
    const x = (t) => Number(t.getAttribute("x"));
    const [t0, t1] = [ticks.find((t) => Number(t.dataset.tick) === 0), ticks.find((t) => Number(t.dataset.tick) === 1)];
    expect(Number(ceiling.getAttribute("x1"))).toBeCloseTo(x(t0) + 0.7071 * (x(t1) - x(t0)), 5);
    const curve = el.querySelector(".nw-neuron-curve");
    expect(curve.querySelector('[data-axis="x"]').textContent).toBe("layer");
    expect(curve.querySelector('[data-axis="y"]').textContent).toBe("median ceiled r");
    expect([...curve.querySelectorAll(".nw-y-axis .nw-tick")].map((t) => Number(t.dataset.tick))).toEqual([0, 0.2, 0.4, 0.6]); // covers the highest point, 0.5
  });

  it("the predictivity and the neuron's view offer their figures", () => {
    const { model, el } = mount({ ...baseState(["neurons"]), neuron_result: RESULT, neuron_want: {} });
    const box = (p) => el.querySelector(`.nw-save-figure[data-figure="${p}"]`);
    expect(box("neurons").hidden && box("neurons_want").hidden).toBe(true);
    model.kernelSet("figures", { neurons: "layer3_neuron_predictivity", neurons_want: "layer3_n1_wants" });
    expect(box("neurons").hidden || box("neurons_want").hidden).toBe(false);
    box("neurons_want").querySelector('[data-format="svg"]').click();
    expect(model.sent.at(-1)).toEqual({ action: "save_figure", panel: "neurons_want", format: "svg" });
  });
});

describe("alignment ceiling band", () => {
  it("shows the noise ceiling as lower–upper and shades the band on the curve", () => {
    const state = { ...baseState(["alignment"]), align_result: { layers: ["conv1", "layer3"], regions: ["hIT"], selected: "layer3", label: "RSA (spearman)",
      score: { hIT: [0.1, 0.2] }, ci_low: { hIT: [0.05, 0.1] }, ci_high: { hIT: [0.15, 0.3] }, control: { hIT: [0.05, 0.06] },
      ceiling: { hIT: 0.31 }, ceiling_upper: { hIT: 0.52 }, ceiling_note: { hIT: "" } } };
    const { el } = mount(state);
    expect(el.querySelector(".nw-align-ceiling").textContent).toBe("0.310–0.520");
    expect(el.querySelectorAll(".nw-ceiling-band").length).toBe(1);
    expect(el.querySelectorAll(".nw-control-band").length).toBe(0);
  });

  it("shades the control's range over several random initialisations", () => {
    const state = { ...baseState(["alignment"]), align_result: { layers: ["conv1", "layer3"], regions: ["hIT"], selected: "layer3", label: "RSA (spearman)",
      score: { hIT: [0.1, 0.2] }, ci_low: { hIT: [0.05, 0.1] }, ci_high: { hIT: [0.15, 0.3] }, control: { hIT: [0.05, 0.06] },
      control_low: { hIT: [0.03, 0.04] }, control_high: { hIT: [0.07, 0.08] }, control_seeds: 3,
      ceiling: { hIT: 0.31 }, ceiling_upper: { hIT: 0.52 }, ceiling_note: { hIT: "" } } };
    const { el } = mount(state);
    expect(el.querySelectorAll(".nw-control-band").length).toBe(1);
    expect(el.textContent).toContain("mean of 3 initialisations");
  });
});

describe("integrated-gradients completeness", () => {
  it("warns under a map whose completeness error is above its threshold", async () => {
    const { pngBuffer } = await import("./fake_model.js");
    const png = await pngBuffer(8, 8);
    const state = { ...baseState(["attribution"]), attr_result: { layer: "layer3", stimulus: 0, stimulus_id: "s0", target_label: "cat", input: png, scale: 1, sign: "all", skipped: [],
      maps: [{ method: "integrated_gradients", label: "Integrated gradients", image: png, delta: 0.12, steps: 50, threshold: 0.05 },
        { method: "saliency", label: "Saliency", image: png, delta: null, steps: null, threshold: null }] } };
    const { el } = mount(state);
    const ig = el.querySelector('.nw-map[data-method="integrated_gradients"]');
    expect(ig.classList.contains("nw-warn")).toBe(true);
    expect(ig.querySelector(".nw-warning").textContent).toContain("above 5%");
    expect(el.querySelector('.nw-map[data-method="saliency"] .nw-warning')).toBeNull();
  });
});
