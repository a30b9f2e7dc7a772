import widget from "../src/index.js";

// A stand-in for the anywidget model: get/set/on/off/save_changes/send, with a log of what the view sent.
export function fakeModel(state) {
  const values = { ...state };
  const handlers = {};
  const model = {
    sent: [], saved: 0,
    get: (k) => values[k],
    set: (k, v) => { values[k] = v; (handlers[`change:${k}`] || []).forEach((f) => f()); },
    on: (ev, f) => { (handlers[ev] = handlers[ev] || []).push(f); },
    off: (ev, f) => { handlers[ev] = (handlers[ev] || []).filter((g) => g !== f); },
    save_changes: () => { model.saved += 1; },
    send: (msg) => { model.sent.push(msg); },
    /** what the kernel's widget.send(content, buffers) arrives as */
    emit: (ev, ...args) => { (handlers[ev] || []).forEach((f) => f(...args)); },
    /** what the kernel does: change a trait and notify the view */
    kernelSet: (k, v) => { values[k] = v; (handlers[`change:${k}`] || []).forEach((f) => f()); },
  };
  return model;
}

/** A real PNG (w × h, one colour) as a DataView, as a binary buffer arrives from the kernel. */
export async function pngBuffer(w, h, color = "#0072B2") {
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, w, h);
  const blob = await canvas.convertToBlob({ type: "image/png" });
  return new DataView(await blob.arrayBuffer());
}

/** encode_array's payload: {dtype, shape, data: DataView}. */
export function arrayPayload(values, shape, dtype = "float32") {
  const typed = dtype === "float32" ? new Float32Array(values) : new Float64Array(values);
  return { dtype, shape, data: new DataView(typed.buffer) };
}

export const LAYERS = [
  { name: "conv1", type: "Conv2d", shape: [16, 32, 32], params: 432, calls: 1, depth: 0 },
  { name: "layer1", type: "Sequential", shape: [16, 32, 32], params: 14208, calls: 1, depth: 0 },
  { name: "layer1.0", type: "BasicBlock", shape: [16, 32, 32], params: 4736, calls: 1, depth: 1 },
  { name: "layer1.0.conv1", type: "Conv2d", shape: [16, 32, 32], params: 2304, calls: 1, depth: 2 },
  { name: "layer1.1", type: "BasicBlock", shape: [16, 32, 32], params: 4736, calls: 1, depth: 1 },
  { name: "layer3", type: "Sequential", shape: [64, 8, 8], params: 222720, calls: 1, depth: 0 },
  { name: "linear", type: "Linear", shape: [10], params: 650, calls: 1, depth: 0 },
];

/** A synthetic 256-entry colour table (768 bytes) with known entries: entry k is (k, 255 − k, f(k)). */
export function testTable(name, blue = (k) => 128) {
  const bytes = new Uint8Array(768);
  for (let k = 0; k < 256; k++) { bytes[3 * k] = k; bytes[3 * k + 1] = 255 - k; bytes[3 * k + 2] = blue(k); }
  return { name, table: new DataView(bytes.buffer) };
}

export function baseState(panels) {
  return {
    colormaps: { signed: testTable("RdBu_r", (k) => Math.abs(k - 128)), unsigned: testTable("viridis") }, figures: {},
    _panels: panels, title: "cifar_resnet20 · test", layers: LAYERS, selected_layer: "", arrangement: "tabs",
    active_tab: panels.find((p) => p !== "tree") || "", jobs: {}, code: {}, thumbs: { n: 0, start: 0, ids: [], images: [] },
    thumb_page: 0, fv_settings: { steps: 128, image_size: null, param: "fft", transforms: true, seed: 0, page_size: 32, k: 6 },
    fv_page: 0, fv_sheet: {}, fv_channel: -1, fv_detail: {},
    attr_settings: { stimulus: 0, target: "predicted", class: 0, channel: 0, methods: ["saliency"], top: 24, sign: "all", sanity_method: "saliency" },
    attr_methods: [{ name: "saliency", label: "Saliency", needs_layer: false }], class_names: ["cat", "dog"],
    attr_result: {}, attr_contrib: {}, attr_sanity: {},
    align_settings: { metric: "rsa", method: "spearman", control: true, n_boot: 200, seed: 0 }, align_result: {},
    regions: [], rdm_region: "", rdm_data: {},
  };
}

/** Render the widget into a fresh element of the page with a fake model of ``state``. */
export function mount(state) {
  const model = fakeModel(state);
  const el = document.createElement("div");
  document.body.replaceChildren(el);
  const cleanup = widget.render({ model, el });
  return { model, el, cleanup };
}
