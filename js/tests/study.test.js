import { describe, it, expect } from "vitest";
import { mount } from "./fake_model.js";
import { cellColour } from "../src/study.js";

const TABLE = {
  metric: "rsa", metrics: ["rsa", "cka"], variant: "trained", region: "", regions: ["IT", "V4"],
  rows: [
    { model: "resnet", data: "k92", status: "done", error: "", region: "IT", layers: ["conv1", "layer1", "fc"],
      scores: [0.1, 0.5, 0.3], ci: [[0, 0.2], [0.4, 0.6], [0.2, 0.4]], best: "layer1" },
    { model: "broken", data: "k92", status: "failed", error: "RuntimeError: boom", layers: [], scores: [], best: "" },
  ],
};

function state(extra = {}) {
  return { _panels: ["study"], title: "Study: 2 models x 1 data sets", arrangement: "tabs", active_tab: "study", jobs: {},
    study_view: { metric: "rsa", variant: "trained", region: "" }, study_table: TABLE, study_open: {}, ...extra };
}

describe("study panel", () => {
  it("draws one row per model x data set with a cell per layer, the best layer marked, failures with their error", () => {
    const { el } = mount(state());
    const rows = el.querySelectorAll(".nw-study-row");
    expect(rows.length).toBe(2);
    const cells = [...rows[0].querySelectorAll(".nw-study-cell")];
    expect(cells.map((c) => c.dataset.layer)).toEqual(["conv1", "layer1", "fc"]);
    expect(cells.filter((c) => c.classList.contains("nw-study-best")).map((c) => c.dataset.layer)).toEqual(["layer1"]);
    expect(cells[1].title).toContain("0.500 [0.400, 0.600] (held-out best)");
    expect(cells[0].style.background).toBe("rgb(255, 255, 255)");     // the row's lowest score
    expect(cells[1].style.background).toBe("rgb(0, 114, 178)");       // its highest
    expect(rows[1].classList.contains("nw-study-failed")).toBe(true);
    expect(rows[1].textContent).toContain("failed: RuntimeError: boom");
  });

  it("a cell click asks to open that model, data set and layer; the opened cell is highlighted", () => {
    const { model, el } = mount(state());
    el.querySelector('.nw-study-cell[data-layer="fc"]').click();
    expect(model.sent.at(-1)).toEqual({ action: "open", model: "resnet", data: "k92", layer: "fc" });
    model.kernelSet("study_open", { model: "resnet", data: "k92", layer: "fc" });
    expect(el.querySelector(".nw-study-cell.nw-active").dataset.layer).toBe("fc");
  });

  it("shows the study's progress with failures and cancels it; the metric choice changes the view", () => {
    const { model, el } = mount(state());
    model.kernelSet("jobs", { study: { state: "running", fraction: 0.25, message: "3 / 12 tasks, 1 failed" } });
    const status = el.querySelector('.nw-status[data-slot="study"]');
    expect(status.querySelector("progress").value).toBeCloseTo(0.25);
    expect(status.textContent).toContain("3 / 12 tasks, 1 failed");
    status.querySelector(".nw-cancel").click();
    expect(model.sent.at(-1)).toEqual({ action: "cancel", slot: "study" });
    const metric = el.querySelector('select[aria-label="metric"]');
    metric.value = "cka";
    metric.dispatchEvent(new Event("change"));
    expect(model.get("study_view")).toEqual({ metric: "cka", variant: "trained", region: "" });
  });

  it("colours missing scores grey", () => {
    expect(cellColour(null, 0, 1)).toBe("#eee");
    expect(cellColour(0.5, 0, 1)).toBe("rgb(128, 185, 217)");
  });
});
