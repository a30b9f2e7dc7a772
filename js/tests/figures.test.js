// Issue 14 in the front end: tick scales, the kernel's colour tables, axis titles, colour bars, category bands,
// block paths in the filtered tree, and "save figure".
import { describe, it, expect, vi } from "vitest";
import { niceTicks, niceStep, tickText, categoryRuns, categoryBands, barChart, linePlot, logTicks, countTicks } from "../src/plots.js";
import { colourTable, colourTables, signedPosition } from "../src/colormap.js";
import { mount, baseState, arrayPayload, testTable, pngBuffer } from "./fake_model.js";

describe("tick scales", () => {
  it("picks 1-2-2.5-5 steps and covers the data with at least three ticks", () => {
    expect(niceTicks(0, 1).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.013, 0.087, 3)).toMatchObject({ lo: 0, hi: 0.1, step: 0.025 });
    expect(niceTicks(0.013, 0.087, 4)).toMatchObject({ lo: 0, hi: 0.1, step: 0.02 });
    expect(niceTicks(-0.37, 0.52, 5).ticks).toEqual([-0.4, -0.2, 0, 0.2, 0.4, 0.6]);
    expect(niceTicks(3, 12345, 5)).toMatchObject({ lo: 0, hi: 12500, step: 2500 });
    expect(niceStep(7, 5)).toBe(2);
    for (const [lo, hi] of [[0.31, 0.33], [-5e-4, 2e-3], [1, 1], [17, 1093], [-2, -1.5]]) {
      const a = niceTicks(lo, hi, 4);
      expect(a.ticks.length).toBeGreaterThanOrEqual(3);
      expect(a.lo).toBeLessThanOrEqual(Math.min(lo, hi));
      expect(a.hi).toBeGreaterThanOrEqual(Math.max(lo, hi));
      // evenly spaced by the nice step
      a.ticks.slice(1).forEach((t, i) => expect(t - a.ticks[i]).toBeCloseTo(a.step, 10));
    }
  });

  it("log axes tick at 1, 2 and 5 × 10^k inside the data; count axes at whole numbers", () => {
    expect(logTicks(0.02, 1)).toMatchObject({ lo: 0.02, hi: 1, log: true, ticks: [0.02, 0.05, 0.1, 0.2, 0.5, 1] });
    expect(logTicks(2, 90.5).ticks).toEqual([2, 5, 10, 20, 50]);
    expect(logTicks(3, 3).log).toBeUndefined(); // one value: a linear axis around it
    expect(countTicks(1).ticks).toEqual([0, 1]);
    expect(countTicks(3).ticks).toEqual([0, 1, 2, 3]);
    expect(countTicks(7)).toMatchObject({ step: 2, ticks: [0, 2, 4, 6, 8] });
  });

  it("prints ticks with the decimals their step needs and a true minus", () => {
    const a = niceTicks(-0.37, 0.52, 5);
    expect(a.ticks.map((t) => tickText(t, a.step))).toEqual(["−0.4", "−0.2", "0.0", "0.2", "0.4", "0.6"]);
    expect(tickText(0.075, 0.025)).toBe("0.075");
    expect(tickText(12500, 2500)).toBe("12,500");
    expect(tickText(1e-17, 0.2)).toBe("0.0");
  });
});

describe("colour tables from the kernel", () => {
  it("reads 256 RGB entries and indexes them as the kernel does (round(t·255))", () => {
    const t = colourTable(testTable("viridis"));
    expect(t.name).toBe("viridis");
    expect(t.at(0)).toEqual([0, 255, 128]);
    expect(t.at(1)).toEqual([255, 0, 128]);
    expect(t.at(0.5)).toEqual([128, 127, 128]); // round(127.5) = 128
    expect(t.at(-3)).toEqual(t.at(0));
    expect(t.at(NaN)).toEqual(t.at(0));
    expect(t.css(1)).toBe("rgb(255,0,128)");
    expect(() => colourTable({ name: "x", table: new DataView(new ArrayBuffer(30)) })).toThrow(/768 bytes/);
  });

  it("maps signed values onto the diverging table with 0 in the middle", () => {
    expect(signedPosition(0, 2)).toBe(0.5);
    expect(signedPosition(2, 2)).toBe(1);
    expect(signedPosition(-5, 2)).toBe(0);
    expect(signedPosition(1, 0)).toBe(0.5);
  });

  it("parses the model's trait once per value", () => {
    const state = baseState([]);
    const model = { get: (k) => state[k] };
    expect(colourTables(model)).toBe(colourTables(model));
    expect(colourTables(model).signed.name).toBe("RdBu_r");
    expect(() => colourTables({ get: () => ({}) })).toThrow(/colour tables/);
  });
});

describe("plots", () => {
  it("a line plot has axis titles and more than two y ticks", () => {
    const svg = linePlot([0.1, 0.5, 0.35, 0.9], { xlabel: "optimisation step", ylabel: "objective" });
    expect(svg.querySelector('[data-axis="x"]').textContent).toBe("optimisation step");
    expect(svg.querySelector('[data-axis="y"]').textContent).toBe("objective");
    expect(svg.querySelectorAll(".nw-y-axis .nw-tick").length).toBeGreaterThan(2);
  });

  it("contribution bars sit on a value axis and take their colours from the signed table", () => {
    const table = colourTable(testTable("RdBu_r"));
    const svg = barChart([1, 2, 3], [0.8, 0.1, -0.4], { table, xlabel: "contribution to class cat" });
    const ticks = [...svg.querySelectorAll(".nw-x-axis .nw-tick")].map((t) => Number(t.dataset.tick));
    expect(ticks.length).toBeGreaterThan(2);
    expect(Math.min(...ticks)).toBeLessThanOrEqual(-0.4);
    expect(Math.max(...ticks)).toBeGreaterThanOrEqual(0.8);
    const fills = [...svg.querySelectorAll(".nw-bar-value")].map((r) => r.getAttribute("fill"));
    expect(fills).toEqual([table.css(1), table.css(signedPosition(0.1, 0.8)), table.css(signedPosition(-0.4, 0.8))]);
    expect(svg.querySelector('[data-axis="x"]').textContent).toBe("contribution to class cat");
    // bar lengths are proportional to the values on that axis
    const w = [...svg.querySelectorAll(".nw-bar-value")].map((r) => Number(r.getAttribute("width")));
    expect(w[0] / w[2]).toBeCloseTo(2, 5);
  });

  it("the contributions panel labels its value axis with the target", () => {
    const { model, el } = mount(baseState(["attribution"]));
    model.kernelSet("attr_contrib", { layer: "layer3", target_label: "class cat", channels: [12, 3], values: [0.9, -0.2] });
    expect(el.querySelector('.nw-contrib [data-axis="x"]').textContent).toBe("contribution to class cat");
  });

  it("the attribution maps get one colour bar over ±scale in the signed table", async () => {
    const { model, el } = mount(baseState(["attribution"]));
    const png = await pngBuffer(8, 8);
    model.kernelSet("attr_result", { layer: "layer3", stimulus: 0, stimulus_id: "a", target_label: "class cat", input: png,
      maps: [{ method: "saliency", label: "Saliency", image: png, delta: null }], scale: 0.25, sign: "all", signed: true });
    const bar = el.querySelector(".nw-map-colorbar .nw-colorbar");
    expect([Number(bar.dataset.lo), Number(bar.dataset.hi)]).toEqual([-0.25, 0.25]);
    const stops = bar.querySelectorAll("stop");
    const signed = colourTables(model).signed;
    expect(stops[0].getAttribute("stop-color")).toBe(signed.css(0));
    expect(stops[stops.length - 1].getAttribute("stop-color")).toBe(signed.css(1));
    expect(bar.querySelectorAll(".nw-tick").length).toBeGreaterThan(2);
  });

  it("the alignment curve has a nice y axis titled with the metric", () => {
    const { model, el } = mount(baseState(["alignment"]));
    model.kernelSet("align_result", { layers: ["conv1", "layer1"], regions: ["IT"], selected: "layer1", label: "RSA (spearman)",
      score: { IT: [0.12, 0.31] }, ci_low: { IT: [0.1, 0.2] }, ci_high: { IT: [0.2, 0.4] }, control: { IT: [0.05, 0.04] }, ceiling: { IT: 0.45 } });
    const curve = el.querySelector(".nw-curve");
    expect(curve.querySelector('[data-axis="y"]').textContent).toBe("RSA (spearman)");
    expect(curve.querySelector('[data-axis="x"]').textContent).toBe("layer");
    const ticks = [...curve.querySelectorAll(".nw-y-axis .nw-tick")].map((t) => Number(t.dataset.tick));
    expect(ticks[0]).toBe(0);
    expect(ticks.length).toBeGreaterThan(2);
    expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(0.45);
  });
});

describe("RDMs", () => {
  it("draw with the kernel's table, a colour bar each, and category bands with labels", () => {
    const n = 6;
    const a = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a.push(i === j ? 0 : 0.2 + (i + j) / 20);
    const state = baseState(["rdm"]);
    state.regions = ["IT"]; state.rdm_region = "IT";
    const { model, el } = mount(state);
    const categories = ["face", "face", "face", "tool", "tool", "place"];
    model.kernelSet("rdm_data", { layer: "layer3", region: "IT", ids: ["0", "1", "2", "3", "4", "5"], index: [0, 1, 2, 3, 4, 5], categories,
      layer_rdm: arrayPayload(a, [n, n]), region_rdm: arrayPayload(a, [n, n], "float64") });
    const bars = el.querySelectorAll(".nw-rdm-grid .nw-colorbar");
    expect(bars.length).toBe(2);
    expect(Number(bars[0].dataset.lo)).toBeCloseTo(0.2 + 1 / 20, 6);
    expect(Number(bars[0].dataset.hi)).toBeCloseTo(0.2 + 9 / 20, 6);
    expect(bars[0].querySelectorAll(".nw-tick").length).toBeGreaterThan(1);
    const left = el.querySelector(".nw-rdm-grid .nw-bands-left");
    expect([...left.querySelectorAll(".nw-band")].map((b) => b.dataset.category)).toEqual(["face", "tool", "place"]);
    expect([...left.querySelectorAll(".nw-category")].map((t) => t.textContent)).toEqual(["face", "tool", "place"]);
    expect(el.querySelectorAll(".nw-rdm-grid .nw-bands-top").length).toBe(2);
    // the lowest off-diagonal value is the table's first entry
    const px = el.querySelector('canvas[data-which="layer"]').getContext("2d").getImageData(1, 0, 1, 1).data;
    expect([...px.slice(0, 3)]).toEqual([0, 255, 128]);
  });

  it("category labels fit beside their bands (long names are not cut off)", () => {
    const svg = categoryBands(["nonhuman bodypart", "nonhuman bodypart", "artificial inanimate", "artificial inanimate"], 240, "left");
    document.body.replaceChildren(svg);
    const labels = [...svg.querySelectorAll(".nw-category")];
    expect(labels.length).toBe(2);
    for (const t of labels) expect(t.getBBox().x).toBeGreaterThanOrEqual(0);
  });

  it("category runs follow consecutive labels", () => {
    expect(categoryRuns(["a", "a", "b", "a"])).toEqual([{ label: "a", start: 0, stop: 2 }, { label: "b", start: 2, stop: 3 }, { label: "a", start: 3, stop: 4 }]);
  });
});

describe("layer tree", () => {
  it("a filtered list shows each row's block path, unfiltered rows their own name", () => {
    const { el } = mount(baseState(["tree"]));
    const filter = el.querySelector(".nw-filter");
    filter.value = "conv";
    filter.dispatchEvent(new Event("input"));
    const names = [...el.querySelectorAll(".nw-tree-row .nw-layer-name")].map((n) => n.textContent);
    expect(names).toEqual(["conv1", "layer1.0.conv1"]);
    expect(el.querySelector('[data-layer="layer1.0.conv1"] .nw-layer-path').textContent).toBe("layer1.0.");
    filter.value = "";
    filter.dispatchEvent(new Event("input"));
    expect(el.querySelector('[data-layer="layer1.0"] .nw-layer-name').textContent).toBe("0");
  });
});

describe("large channel view", () => {
  it("says when a small render is shown upsampled, and is not pixelated", async () => {
    const { model, el } = mount(baseState(["featurevis"]));
    model.kernelSet("fv_detail", { layer: "layer3", channel: 2, image: await pngBuffer(32, 32), size: [32, 32], value: 1.5, curve: [1, 2, 3],
      top: [], bottom: [], description: "layer3 channel 2" });
    expect(el.querySelector(".nw-scale-note").textContent).toBe("rendered at 32×32 px, shown 7× larger, smoothed");
    expect(el.querySelector(".nw-detail .nw-plot [data-axis='y']").textContent).toBe("objective");
  });
});

describe("save figure", () => {
  it("appears when the kernel has a figure, asks for it, and downloads what comes back", () => {
    const { model, el } = mount(baseState(["attribution"]));
    const box = el.querySelector('.nw-save-figure[data-figure="contributions"]');
    expect(box.hidden).toBe(true);
    model.kernelSet("figures", { contributions: "layer3_0_contributions" });
    expect(box.hidden).toBe(false);
    box.querySelector('[data-format="svg"]').click();
    expect(model.sent).toContainEqual({ action: "save_figure", panel: "contributions", format: "svg" });
    const clicks = [];
    const spy = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function () { clicks.push([this.download, this.href]); });
    const seen = [];
    el.addEventListener("nw-render", (e) => { if (e.detail.kind === "figure") seen.push(e.detail); });
    const bytes = new TextEncoder().encode("<svg xmlns='http://www.w3.org/2000/svg'/>");
    const reply = (panel, format) => model.emit("msg:custom", { figure: { panel, format, mime: "image/svg+xml", filename: `${panel}.${format}` } }, [new DataView(bytes.buffer)]);
    reply("contributions", "svg");
    reply("contributions", "svg"); // a second reply (another view asked): this view did not ask again
    reply("sanity", "svg"); // nobody clicked the sanity panel's button here
    spy.mockRestore();
    expect(clicks.length).toBe(1);
    expect(clicks[0][0]).toBe("contributions.svg");
    expect(clicks[0][1]).toMatch(/^blob:/);
    expect(seen).toEqual([expect.objectContaining({ panel: "contributions", format: "svg", bytes: bytes.length })]);
  });
});
