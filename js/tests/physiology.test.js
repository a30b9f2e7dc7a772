import { describe, it, expect } from "vitest";
import { mount, baseState, arrayPayload } from "./fake_model.js";
import { colourTables, signedPosition } from "../src/colormap.js";

const hist = (label) => ({ edges: [0, 0.5, 1], counts: [3, 1], x_label: label, y_label: "channels" });
const RESULT = {
  layer: "conv1", n_channels: 4, n_responsive: 3, n_tuned: 2, osi_threshold: 0.2, osi_median: 0.41, fraction_simple: 0.5,
  preferred_orientation: hist("preferred orientation (deg)"), osi: hist("OSI"), f1f0: hist("F1/F0"),
  oblique_effect: { cardinal_fraction: 0.5, p_value: 1, n_tuned: 2 }, partial: false, sfs_done: 8,
  channels: { osi: [0.4, 0.1, null, 0.8], preferred_orientation: [10, 90, null, 45], preferred_sf: [0.1, 0.2, null, 0.05],
    f1f0: [1.5, 0.4, null, 1.2], cell_type: ["simple", "complex", "unresponsive", "simple"] },
};
const STATE = () => ({ ...baseState(["physiology"]), phys_settings: {}, phys_result: {}, phys_channel: {}, phys_category: {} });

describe("physiology panel", () => {
  it("summarises the layer with labelled histograms and a channel click asks for that channel", () => {
    const { model, el } = mount(STATE());
    model.kernelSet("phys_result", RESULT);
    expect(el.querySelector(".nw-phys-summary").textContent).toContain("3 of 4 channels respond to gratings, 2 orientation-tuned");
    const hists = el.querySelectorAll(".nw-phys-hist");
    expect(hists.length).toBe(3);
    expect(hists[1].textContent).toContain("OSI");
    expect(el.querySelectorAll(".nw-phys-row").length).toBe(4);
    expect(el.querySelector('.nw-phys-row[data-channel="2"]').textContent).toContain("unresponsive");
    el.querySelector('.nw-phys-row[data-channel="3"]').click();
    expect(model.sent.at(-1)).toEqual({ action: "phys_channel", channel: 3 });
  });

  it("draws one channel's curves, both receptive-field maps and links to its optimal stimulus", () => {
    const { model, el } = mount(STATE());
    const c = (label) => ({ x: [0, 30, 60, 90], y: [1, 2, 1, 0], x_label: label, y_label: "response" });
    const rf = { signed: arrayPayload([1, -1, 0.5, 0, 0, 0], [2, 3]), centre_px: [1, 1], size_px: 2.5, size_deg: null, region: [0, 0, 2, 3] };
    model.kernelSet("phys_channel", { layer: "conv1", channel: 3,
      tuning: { cell_type: "simple", preferred_orientation_deg: 44.6, osi: 0.8, orientation_bandwidth_deg: 20, preferred_sf_cpp: 0.05, preferred_sf_cpd: null,
        sf_bandwidth_octaves: 1.2, f1f0: 1.2, orientation_curve: c("orientation (deg)"), sf_curve: { ...c("SF"), x: [0.02, 0.04, 0.08, 0.16] }, phase_curve: c("phase (deg)") },
      rf: { sparse_noise: rf, gradient: { ...rf, size_px: 3 }, comparison: { centre_distance_px: 0.5, size_ratio: 0.83, map_correlation: 0.9 } },
      contrast: { curve: { x: [0, 0.5, 1], y: [0, 1, 1.2], x_label: "contrast" }, fit: { x: [0, 0.5, 1], y: [0, 0.9, 1.2] }, c50: 0.3, n: 2, r2: 0.99 },
      size: { curve: { x: [2, 4, 8], y: [1, 2, 1.5], x_label: "diameter" }, preferred_diameter_px: 4, suppression_index: 0.25 } });
    const detail = el.querySelector(".nw-phys-channel");
    expect(detail.textContent).toContain("channel 3 (simple): preferred orientation 44.6°, OSI 0.800");
    expect(detail.querySelectorAll(".nw-phys-curve").length).toBe(5);
    expect(detail.querySelectorAll("canvas.nw-rf").length).toBe(2);
    expect(detail.querySelector(".nw-fit")).not.toBeNull();
    expect(detail.textContent).toContain("centres 0.500 px apart, size ratio 0.830, map correlation 0.900");
    [...detail.querySelectorAll("button")].find((b) => b.textContent === "its optimal stimulus").click();
    expect(model.sent.at(-1)).toEqual({ action: "open_channel", channel: 3 });
    expect(model.get("active_tab")).toBe("featurevis");
  });

  it("runs category selectivity on demand and shows fractions beside the random control", () => {
    const { model, el } = mount(STATE());
    [...el.querySelectorAll("button")].find((b) => b.textContent === "fLoc category selectivity").click();
    expect(model.sent.at(-1)).toEqual({ action: "phys_category" });
    model.kernelSet("phys_category", { layer: "conv1", domains: ["faces", "words"], threshold: 1, alpha: 0.05,
      table: { faces: { fraction: 0.25, fraction_p: 0.01, control_fraction: 0, best_channel: 2, best_d_prime: 1.7 },
        words: { fraction: 0, fraction_p: 0.9, control_fraction: 0, best_channel: 0, best_d_prime: 0.3 } } });
    const row = el.querySelector('.nw-phys-category tr[data-domain="faces"]');
    expect(row.textContent).toContain("25 %");
    expect(row.textContent).toContain("2 (d′ 1.70)");
  });

  it("the plots have axis titles, real tick scales, fit and marker lines, and the maps colour bars", () => {
    const { model, el } = mount(STATE());
    model.kernelSet("phys_result", RESULT);
    const osi = el.querySelectorAll(".nw-phys-hist")[1];
    expect(osi.querySelector('[data-axis="x"]').textContent).toBe("OSI");
    expect(osi.querySelector('[data-axis="y"]').textContent).toBe("channels");
    expect([...osi.querySelectorAll(".nw-y-axis .nw-tick")].map((t) => Number(t.dataset.tick))).toEqual([0, 1, 2, 3]);
    expect([...osi.querySelectorAll(".nw-x-axis .nw-tick")].map((t) => Number(t.dataset.tick))).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect([...osi.querySelectorAll(".nw-hist-bar")].map((b) => Number(b.dataset.count))).toEqual([3, 1]);
    const curve = (x, y, label) => ({ x, y, x_label: label, y_label: "response (F0 + F1 - blank)" });
    const values = [0.5, -2, 1, 0, 0, 0.25];
    const rf = { signed: arrayPayload(values, [2, 3]), centre_px: [1, 1], size_px: 2.5, size_deg: null, region: [0, 0, 2, 3] };
    model.kernelSet("phys_channel", { layer: "conv1", channel: 3,
      tuning: { cell_type: "simple", orientation_curve: curve([0, 60, 120], [1, 3, 1], "orientation (deg)"),
        sf_curve: curve([0.02, 0.05, 0.1, 0.4], [1, 2, 1, 0], "spatial frequency (cycles/pixel)"), phase_curve: curve([0, 180], [1, 0], "phase (deg)") },
      rf: { sparse_noise: rf, gradient: rf, comparison: {} },
      contrast: { curve: curve([0.02, 0.1, 0.5, 1], [0, 1, 2, 2.1], "contrast (Michelson)"), fit: { x: [0, 0.25, 0.5, 1], y: [0, 1.5, 2, 2.1] }, c50: 0.2, n: 2, r2: 0.99 },
      size: { curve: curve([2, 8, 32], [1, 2, 1.5], "aperture diameter (pixels)"), preferred_diameter_px: 8, suppression_index: 0.25 } });
    const curves = [...el.querySelectorAll(".nw-phys-curve")];
    expect(curves.map((c) => c.querySelector('[data-axis="x"]').textContent)).toEqual(["orientation (deg)", "spatial frequency (cycles/pixel)",
      "phase (deg)", "contrast (Michelson)", "aperture diameter (pixels)"]);
    for (const c of curves) {
      expect(c.querySelector('[data-axis="y"]').textContent).toBe("response (F0 + F1 - blank)");
      expect(c.querySelectorAll(".nw-y-axis .nw-tick").length).toBeGreaterThan(2);
    }
    expect(curves[0].querySelectorAll(".nw-point").length).toBe(3);
    // log axes: ticks at 1, 2, 5 × 10^k inside the data, at log-spaced positions
    const sfTicks = [...curves[1].querySelectorAll(".nw-x-axis .nw-tick")];
    expect(sfTicks.map((t) => t.textContent)).toEqual(["0.02", "0.05", "0.1", "0.2"]);
    const at = (t) => Number(t.getAttribute("x"));
    expect((at(sfTicks[2]) - at(sfTicks[0])) / (at(sfTicks[3]) - at(sfTicks[2]))).toBeCloseTo(Math.log(5) / Math.log(2), 5);
    expect(curves[3].querySelector(".nw-fit")).not.toBeNull();
    expect(Number(curves[3].querySelector(".nw-c50").dataset.value)).toBe(0.2);
    expect(Number(curves[4].querySelector(".nw-preferred").dataset.value)).toBe(8);
    const bars = el.querySelectorAll(".nw-rf-map .nw-colorbar");
    expect(bars.length).toBe(2);
    expect([Number(bars[0].dataset.lo), Number(bars[0].dataset.hi)]).toEqual([-2, 2]);
    expect(bars[0].querySelector(".nw-axis-title").textContent).toBe("ON − OFF response");
    const signed = colourTables(model).signed;
    const px = el.querySelector("canvas.nw-rf").getContext("2d").getImageData(0, 0, 3, 1).data;
    expect([...px.slice(0, 3)]).toEqual(signed.at(signedPosition(0.5, 2)));
    expect([...px.slice(4, 7)]).toEqual(signed.at(0));
  });

  it("each part of the panel offers its figure once the kernel has one", () => {
    const { model, el } = mount(STATE());
    const boxes = ["physiology", "physiology_channel", "physiology_category"].map((p) => el.querySelector(`.nw-save-figure[data-figure="${p}"]`));
    expect(boxes.every((b) => b && b.hidden)).toBe(true);
    model.kernelSet("figures", { physiology_channel: "conv1_channel3" });
    expect(boxes.map((b) => b.hidden)).toEqual([true, false, true]);
    boxes[1].querySelector('[data-format="png"]').click();
    expect(model.sent.at(-1)).toEqual({ action: "save_figure", panel: "physiology_channel", format: "png" });
  });
});
