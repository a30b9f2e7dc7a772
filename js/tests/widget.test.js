import { describe, it, expect, beforeEach } from "vitest";
import { buildTree } from "../src/tree.js";
import { decodeArray, pngUrl } from "../src/codec.js";
import css from "../src/widget.css?raw";
import { mount, pngBuffer, arrayPayload, baseState } from "./fake_model.js";


async function loaded(img) {
  if (!img.complete || !img.naturalWidth) await new Promise((ok, bad) => { img.onload = ok; img.onerror = bad; });
  return img;
}

describe("layer tree", () => {
  it("builds parents from dotted names", () => {
    const rows = buildTree(baseState(["tree"]).layers);
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(byName["layer1.0.conv1"].parent).toBe("layer1.0");
    expect(byName["layer1.0"].parent).toBe("layer1");
    expect(byName["layer1"].children).toBe(2);
    expect(byName.conv1.parent).toBe("");
  });

  it("renders rows with type, shape and parameters, and a click sends the selection back", () => {
    const { model, el } = mount(baseState(["tree"]));
    const rows = el.querySelectorAll(".nw-tree-row");
    // layer1.0 is collapsed at first (depth >= 1 blocks start closed), so its conv is hidden
    expect([...rows].map((r) => r.dataset.layer)).toEqual(["conv1", "layer1", "layer1.0", "layer1.1", "layer3", "linear"]);
    const l3 = el.querySelector('[data-layer="layer3"]');
    expect(l3.textContent).toContain("Sequential");
    expect(l3.textContent).toContain("64×8×8");
    expect(l3.textContent).toContain("222,720");
    l3.click();
    expect(model.get("selected_layer")).toBe("layer3");
    expect(model.saved).toBe(1);
    expect(el.querySelector(".nw-selected").dataset.layer).toBe("layer3");
  });

  it("filters and navigates with the keyboard", () => {
    const { model, el } = mount(baseState(["tree"]));
    const filter = el.querySelector(".nw-filter");
    filter.value = "conv";
    filter.dispatchEvent(new Event("input"));
    expect([...el.querySelectorAll(".nw-tree-row")].map((r) => r.dataset.layer)).toEqual(["conv1", "layer1.0.conv1"]);
    filter.value = "";
    filter.dispatchEvent(new Event("input"));
    const tree = el.querySelector(".nw-tree");
    const key = (k) => tree.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true }));
    key("ArrowDown"); key("ArrowDown"); key("ArrowDown"); // conv1 -> layer1 -> layer1.0
    key("ArrowRight"); // expand layer1.0
    expect(el.querySelector('[data-layer="layer1.0.conv1"]')).not.toBeNull();
    key("ArrowDown"); key("Enter");
    expect(model.get("selected_layer")).toBe("layer1.0.conv1");
  });
});

describe("contact sheet", () => {
  it("updates when images arrive, and a tile click asks for that channel", async () => {
    const { model, el } = mount(baseState(["featurevis"]));
    const head = { layer: "layer3", page: 0, n_pages: 2, n_channels: 64, channels: Array.from({ length: 32 }, (_, i) => i) };
    model.kernelSet("fv_sheet", { ...head, images: [], values: [], final: false });
    expect(el.querySelectorAll(".nw-tile").length).toBe(32);
    expect(el.querySelectorAll(".nw-tile img").length).toBe(0);
    const events = [];
    el.addEventListener("nw-render", (e) => events.push(e.detail));
    const images = await Promise.all(head.channels.slice(0, 32).map((i) => pngBuffer(16, 16, i % 2 ? "#E69F00" : "#0072B2")));
    model.kernelSet("fv_sheet", { ...head, images, values: head.channels.map((c) => c / 10), final: true });
    const imgs = el.querySelectorAll(".nw-tile img");
    expect(imgs.length).toBe(32);
    const first = await loaded(imgs[1]);
    expect(first.naturalWidth).toBe(16);
    // the decoded pixels are the colour sent (the PNG travelled as bytes, not base64)
    const c = document.createElement("canvas"); c.width = c.height = 16;
    const ctx = c.getContext("2d"); ctx.drawImage(first, 0, 0);
    expect([...ctx.getImageData(3, 3, 1, 1).data.slice(0, 3)]).toEqual([0xE6, 0x9F, 0x00]);
    expect(events.some((e) => e.panel === "featurevis" && e.kind === "result" && e.layer === "layer3")).toBe(true);
    expect(el.querySelector(".nw-page").textContent).toContain("of 64");
    el.querySelector('.nw-tile[data-channel="7"]').click();
    expect(model.sent).toContainEqual({ action: "open_channel", channel: 7 });
    el.querySelector('.nw-pager button:last-child').click();
    expect(model.get("fv_page")).toBe(1);
  });

  it("shows progress, a cancel button and a readable error with the traceback on demand", () => {
    const { model, el } = mount(baseState(["featurevis"]));
    model.kernelSet("jobs", { featurevis: { state: "running", fraction: 0.4, message: "step 40/100", job: 1 } });
    const st = el.querySelector('.nw-status[data-slot="featurevis"]');
    expect(st.querySelector("progress").value).toBeCloseTo(0.4);
    expect(st.textContent).toContain("step 40/100");
    st.querySelector(".nw-cancel").click();
    expect(model.sent).toContainEqual({ action: "cancel", slot: "featurevis" });
    model.kernelSet("jobs", { featurevis: { state: "error", error: "ValueError: channel 99 is out of range", traceback: "Traceback ...", job: 1 } });
    expect(st.querySelector(".nw-error").textContent).toBe("ValueError: channel 99 is out of range");
    expect(st.querySelector(".nw-traceback").hidden).toBe(true);
    st.querySelector(".nw-link").click();
    expect(st.querySelector(".nw-traceback").hidden).toBe(false);
    model.kernelSet("jobs", { featurevis: { state: "notice", message: "no neural data: give a data set", job: 2 } });
    expect(st.querySelector(".nw-status-message").textContent).toBe("no neural data: give a data set");
    expect(st.querySelector(".nw-error").hidden).toBe(true);
  });
});

describe("copy as code", () => {
  it("stays hidden until a panel has code, then shows the engine call", async () => {
    const style = document.createElement("style");
    style.textContent = css;
    document.head.append(style);
    const { model, el } = mount(baseState(["featurevis"]));
    const box = el.querySelector('.nw-codebox[data-code="featurevis"]');
    expect(getComputedStyle(box).display).toBe("none");
    model.kernelSet("code", { featurevis: "sheet = nw.featurevis.render_layer(probe, 'layer3')" });
    expect(getComputedStyle(box).display).not.toBe("none");
    box.querySelector("button").click();
    await new Promise((r) => setTimeout(r, 20));
    expect(box.querySelector("pre").hidden).toBe(false);
    expect(box.querySelector("pre").textContent).toBe("sheet = nw.featurevis.render_layer(probe, 'layer3')");
    style.remove();
  });
});

describe("attributions", () => {
  it("draws ranked bars; clicking a bar opens that channel's optimal stimulus", () => {
    const { model, el } = mount(baseState(["attribution"]));
    model.kernelSet("attr_contrib", { layer: "layer3", target_label: "class cat", channels: [12, 3, 40], values: [0.9, 0.2, -0.5] });
    const bars = el.querySelectorAll(".nw-bar");
    expect([...bars].map((b) => b.dataset.channel)).toEqual(["12", "3", "40"]);
    const widths = [...bars].map((b) => Number(b.querySelector("rect:not(.nw-bar-hit)").getAttribute("width")));
    expect(widths[0]).toBeGreaterThan(widths[2]);
    expect(widths[2]).toBeGreaterThan(widths[1]);
    const fills = [...bars].map((b) => b.querySelector("rect:not(.nw-bar-hit)").getAttribute("fill"));
    expect(fills[0]).not.toBe(fills[2]); // positive and negative differ
    bars[2].dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.sent).toContainEqual({ action: "open_channel", channel: 40 });
  });

  it("shows maps side by side and picks a stimulus from the strip", async () => {
    const { model, el } = mount(baseState(["attribution"]));
    const png = await pngBuffer(8, 8);
    model.kernelSet("thumbs", { n: 3, start: 0, ids: ["a", "b", "c"], images: [png, png, png] });
    model.kernelSet("attr_result", { layer: "layer3", stimulus: 0, stimulus_id: "a", target_label: "predicted class cat", input: png,
      maps: [{ method: "saliency", label: "Saliency", image: png, delta: null }, { method: "integrated_gradients", label: "IG", image: png, delta: 0.034, steps: 50 }], scale: 1.5, sign: "all" });
    expect(el.querySelectorAll(".nw-map").length).toBe(3);
    expect(el.querySelector('[data-method="integrated_gradients"]').textContent).toContain("completeness error 3.4%, 50 steps");
    el.querySelectorAll(".nw-thumb")[2].click();
    expect(model.get("attr_settings").stimulus).toBe(2);
  });

  it("shows the one-pass maps while the path methods compute, and announces the result only when all are in", async () => {
    const { model, el } = mount(baseState(["attribution"]));
    const png = await pngBuffer(8, 8);
    const kinds = [];
    el.addEventListener("nw-render", (e) => { if (e.detail.panel === "attribution") kinds.push(e.detail.kind); });
    const base = { layer: "layer3", stimulus: 0, stimulus_id: "a", target_label: "cat", input: png, scale: 1, sign: "all" };
    const saliency = { method: "saliency", label: "Saliency", image: png, delta: null };
    model.kernelSet("attr_result", { ...base, maps: [saliency], pending: ["Integrated gradients"] });
    const waiting = el.querySelector('[data-pending="Integrated gradients"]');
    expect(waiting.textContent).toContain("computing");
    expect(el.querySelector('[data-method="saliency"] img')).not.toBeNull();
    expect(kinds).toEqual(["preview"]);
    model.kernelSet("attr_result", { ...base, pending: [],
      maps: [saliency, { method: "integrated_gradients", label: "Integrated gradients", image: png, delta: 0.01, steps: 50 }] });
    expect(el.querySelector(".nw-pending")).toBeNull();
    expect(el.querySelector('[data-method="integrated_gradients"] img')).not.toBeNull();
    expect(kinds).toEqual(["preview", "result"]);
  });
});

describe("RDM viewer", () => {
  it("decodes arrays and shows both values and both stimuli on hover", async () => {
    const n = 4;
    const a = [], b = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { a.push(i === j ? 0 : (i + j) / 10); b.push(i === j ? 0 : Math.abs(i - j)); }
    const state = baseState(["rdm"]);
    const pngs = await Promise.all([0, 1, 2, 3].map(() => pngBuffer(8, 8)));
    state.thumbs = { n, start: 0, ids: ["s0", "s1", "s2", "s3"], images: pngs };
    state.regions = ["mIT", "hIT"]; state.rdm_region = "hIT";
    const { model, el } = mount(state);
    model.kernelSet("rdm_data", { layer: "layer3", region: "hIT", ids: ["s3", "s2", "s1", "s0"], index: [3, 2, 1, 0],
      layer_rdm: arrayPayload(a, [n, n]), region_rdm: arrayPayload(b, [n, n], "float64") });
    const canvas = el.querySelector('canvas[data-which="layer"]');
    expect(canvas.width).toBe(n);
    const rect = canvas.getBoundingClientRect();
    // cell (row 1, col 3)
    canvas.dispatchEvent(new MouseEvent("mousemove", { clientX: rect.left + rect.width * 3.5 / n, clientY: rect.top + rect.height * 1.5 / n, bubbles: true }));
    const tip = el.querySelector(".nw-tooltip");
    expect(tip.hidden).toBe(false);
    expect(tip.dataset.row).toBe("1");
    expect(tip.dataset.col).toBe("3");
    expect(tip.querySelector('[data-value="layer"]').textContent).toBe("layer3: 0.400");
    expect(tip.querySelector('[data-value="region"]').textContent).toBe("hIT: 2");
    const imgs = tip.querySelectorAll("img");
    expect(imgs.length).toBe(2);
    // RDM rows follow the neural data's order: row 1 is stimulus s2 (position 2 of the set), col 3 is s0
    expect(tip.textContent).toContain("s2 vs s0");
    expect(imgs[0].getAttribute("src")).toBe(pngUrl(pngs[2]));
    expect(imgs[1].getAttribute("src")).toBe(pngUrl(pngs[0]));
    // the highest off-diagonal value is drawn in the kernel's sequential table's top colour
    const px = canvas.getContext("2d").getImageData(3, 2, 1, 1).data; // row 2, col 3: 0.5 = max
    expect([...px.slice(0, 3)]).toEqual([255, 0, 128]);
    el.querySelector('select[aria-label="region"]').value = "mIT";
    el.querySelector('select[aria-label="region"]').dispatchEvent(new Event("change"));
    expect(model.get("rdm_region")).toBe("mIT");
  });

  it("decodeArray rejects a wrong shape", () => {
    expect(() => decodeArray(arrayPayload([1, 2, 3], [2, 2]))).toThrow(/needs 4 values/);
  });
});

describe("alignment and layout", () => {
  it("draws the curve; clicking a point selects that layer", () => {
    const { model, el } = mount(baseState(["tree", "featurevis", "attribution", "alignment", "rdm"]));
    model.kernelSet("align_result", { layers: ["conv1", "layer1", "layer3"], regions: ["mIT", "hIT"], selected: "layer3", label: "RSA (spearman)",
      score: { mIT: [0.1, 0.2, 0.3], hIT: [0.05, 0.1, 0.2] }, ci_low: { mIT: [0, 0.1, 0.2], hIT: [0, 0.05, 0.1] }, ci_high: { mIT: [0.2, 0.3, 0.4], hIT: [0.1, 0.2, 0.3] },
      control: { mIT: [0.1, 0.1, 0.1], hIT: [0.05, 0.05, 0.05] }, ceiling: { mIT: null, hIT: 0.33 }, ceiling_note: {} });
    // alignment lives in its own tab
    el.querySelector('[data-tab="alignment"]').click();
    expect(model.get("active_tab")).toBe("alignment");
    const cells = el.querySelectorAll(".nw-align-score");
    expect([...cells].map((c) => c.textContent)).toEqual(["0.300 [0.200, 0.400]", "0.200 [0.100, 0.300]"]);
    expect(el.querySelectorAll(".nw-control-line").length).toBe(2);
    el.querySelector('.nw-point[data-layer="layer1"][data-region="hIT"]').dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("selected_layer")).toBe("layer1");
    // stacked layout shows every panel at once
    el.querySelector(".nw-header .nw-button").click();
    expect(model.get("arrangement")).toBe("stacked");
    expect(el.querySelectorAll(".nw-panel").length).toBe(4);
  });

  it("takes its colours from JupyterLab's theme variables (light and dark)", () => {
    const style = document.createElement("style");
    style.textContent = css;
    document.head.append(style);
    const { el } = mount(baseState(["tree"]));
    const host = document.body;
    host.style.setProperty("--jp-ui-font-color1", "rgb(10, 20, 30)");
    host.style.setProperty("--jp-layout-color1", "rgb(250, 250, 250)");
    expect(getComputedStyle(el).color).toBe("rgb(10, 20, 30)");
    expect(getComputedStyle(el).backgroundColor).toBe("rgb(250, 250, 250)");
    host.style.setProperty("--jp-ui-font-color1", "rgb(230, 230, 230)"); // a dark theme
    host.style.setProperty("--jp-layout-color1", "rgb(17, 17, 17)");
    expect(getComputedStyle(el).color).toBe("rgb(230, 230, 230)");
    expect(getComputedStyle(el).backgroundColor).toBe("rgb(17, 17, 17)");
    style.remove();
  });
});

describe("issue 11: stale results, skipped methods, widget-level errors", () => {
  it("names a method skipped for this layer, with the reason", () => {
    const { model, el } = mount({ ...baseState(["attribution"]), selected_layer: "linear" });
    model.kernelSet("attr_result", { layer: "linear", stimulus: 0, stimulus_id: "s0", maps: [],
      skipped: [{ method: "gradcam", label: "Grad-CAM", note: "gradcam: layer 'linear' has output shape (10,); it needs a spatial (C, H, W) map" }] });
    const note = el.querySelector('.nw-note[data-method="gradcam"]');
    expect(note.textContent).toContain("Grad-CAM skipped");
    expect(note.textContent).toContain("spatial");
    expect(el.querySelectorAll(".nw-map").length).toBe(0);
  });

  it("fades a result of another layer than the selected one", () => {
    const { model, el } = mount({ ...baseState(["attribution"]), selected_layer: "layer3" });
    model.kernelSet("attr_result", { layer: "layer3", stimulus: 0, stimulus_id: "s0", maps: [], skipped: [] });
    const maps = el.querySelector(".nw-maps");
    expect(maps.classList.contains("nw-stale")).toBe(false);
    model.kernelSet("selected_layer", "linear");
    expect(maps.classList.contains("nw-stale")).toBe(true);
    model.kernelSet("attr_result", { layer: "linear", stimulus: 0, stimulus_id: "s0", maps: [], skipped: [] });
    expect(maps.classList.contains("nw-stale")).toBe(false);
  });

  it("shows an error that concerns no panel under the header", () => {
    const { model, el } = mount(baseState(["tree", "featurevis"]));
    const line = el.querySelector('.nw-status[data-slot="widget"]');
    expect(line.querySelector(".nw-error").hidden).toBe(true);
    model.kernelSet("jobs", { widget: { state: "error", error: "unknown front-end action 'explode'", traceback: "", job: 3 } });
    expect(line.dataset.state).toBe("error");
    expect(line.querySelector(".nw-error").textContent).toContain("unknown front-end action");
    expect(line.querySelector(".nw-error").hidden).toBe(false);
  });
});
