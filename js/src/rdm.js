// The RDM viewer: the layer's RDM next to a region's; hovering a cell shows both stimuli and both values.
import { h, fmt, announce } from "./dom.js";
import { decodeArray, pngUrl } from "./codec.js";
import { colourTables } from "./colormap.js";
import { colourBar, categoryBands } from "./plots.js";
import { statusLine, codeBox } from "./status.js";
import { saveFigure } from "./figure.js";

/** The RDM canvases' size on screen (CSS px; see widget.css .nw-rdm-canvas). */
const RDM_PX = 240;

/** Draw an N×N matrix into a canvas with a colour table (the kernel's sequential map), scaled to its own
 * off-diagonal range; returns that range. */
export function drawMatrix(canvas, matrix, table) {
  const n = matrix.shape[0];
  canvas.width = n; canvas.height = n;
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) { const v = matrix.get(i, j); if (v < lo) lo = v; if (v > hi) hi = v; }
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const [r, g, b] = table.at((matrix.get(i, j) - lo) / (hi - lo || 1));
    const k = 4 * (i * n + j);
    img.data[k] = r; img.data[k + 1] = g; img.data[k + 2] = b; img.data[k + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return { lo, hi };
}

/** One RDM with its colour bar and, when the stimuli have categories, category bands along two edges. */
function rdmFigure(canvas, range, table, label, categories) {
  const bands = categories && categories.length ? categories : null;
  return h("div", { class: `nw-rdm-grid${bands ? " nw-has-bands" : ""}` }, [
    bands ? h("div", { class: "nw-rdm-corner" }) : null,
    bands ? categoryBands(bands, RDM_PX, "top") : null,
    bands ? h("div", { class: "nw-rdm-corner" }) : null,
    bands ? categoryBands(bands, RDM_PX, "left") : null,
    canvas,
    colourBar(table, range.lo, range.hi, { label, height: RDM_PX - 16 }),
  ]);
}

/** The cell (row, col) under a mouse event on a canvas showing an n×n matrix. */
export function cellAt(canvas, event, n) {
  const rect = canvas.getBoundingClientRect();
  const col = Math.floor(((event.clientX - rect.left) / rect.width) * n);
  const row = Math.floor(((event.clientY - rect.top) / rect.height) * n);
  return row >= 0 && row < n && col >= 0 && col < n ? [row, col] : null;
}

export function rdmPanel(model, root) {
  const region = h("select", { class: "nw-input", "aria-label": "region" });
  const left = h("canvas", { class: "nw-rdm-canvas", "data-which": "layer" });
  const right = h("canvas", { class: "nw-rdm-canvas", "data-which": "region" });
  const leftTitle = h("figcaption");
  const rightTitle = h("figcaption");
  const tip = h("div", { class: "nw-tooltip", hidden: true, role: "tooltip" });
  const status = statusLine(model, "rdm", root);
  const code = codeBox(model, "rdm");
  const figure = saveFigure(model, "rdm", root);
  const leftBox = h("div", { class: "nw-rdm-box" });
  const rightBox = h("div", { class: "nw-rdm-box" });
  const el = h("section", { class: "nw-panel nw-rdm", "data-panel": "rdm" }, [
    h("div", { class: "nw-controls" }, [h("label", { class: "nw-control" }, ["region", region])]), status.el,
    h("div", { class: "nw-rdm-pair" }, [h("figure", {}, [leftBox, leftTitle]), h("figure", { class: "nw-rdm-region" }, [rightBox, rightTitle])]), tip,
    h("div", { class: "nw-panel-tools" }, [code.el, figure.el])]);
  region.addEventListener("change", () => { model.set("rdm_region", region.value); model.save_changes(); });
  let mats = { layer: null, region: null };

  function hover(event) {
    const d = model.get("rdm_data") || {};
    if (!mats.layer) return;
    const n = mats.layer.shape[0];
    const cell = cellAt(event.currentTarget, event, n);
    if (!cell) { tip.hidden = true; return; }
    const [i, j] = cell;
    const th = model.get("thumbs") || {};
    // RDM rows follow the neural data's order; `index` maps them to positions in the stimulus set
    const thumb = (row) => { const k = d.index ? d.index[row] : row; const p = k - (th.start || 0); return th.images && p >= 0 && p < th.images.length ? h("img", { src: pngUrl(th.images[p]), alt: `stimulus ${d.ids[row]}` }) : null; };
    tip.replaceChildren(h("div", { class: "nw-tip-images" }, [thumb(i), thumb(j)]),
      h("div", { text: `${d.ids[i]} vs ${d.ids[j]}` }),
      h("div", { "data-value": "layer", text: `${d.layer}: ${fmt(mats.layer.get(i, j))}` }),
      mats.region ? h("div", { "data-value": "region", text: `${d.region}: ${fmt(mats.region.get(i, j))}` }) : null);
    tip.hidden = false;
    tip.dataset.row = i; tip.dataset.col = j;
    const box = el.getBoundingClientRect();
    tip.style.left = `${event.clientX - box.left + 12}px`;
    tip.style.top = `${event.clientY - box.top + 12}px`;
  }
  for (const c of [left, right]) { c.addEventListener("mousemove", hover); c.addEventListener("mouseleave", () => { tip.hidden = true; }); }

  function draw() {
    const regions = model.get("regions") || [];
    if (region.options.length !== regions.length) region.replaceChildren(...regions.map((r) => h("option", { value: r, text: r })));
    region.value = model.get("rdm_region");
    region.disabled = !regions.length;
    const d = model.get("rdm_data") || {};
    if (!d.layer_rdm) {
      mats = { layer: null, region: null }; left.width = right.width = 0; leftTitle.textContent = rightTitle.textContent = "";
      leftBox.replaceChildren(left); rightBox.replaceChildren(right); el.dataset.layer = ""; return;
    }
    const table = colourTables(model).unsigned;
    mats = { layer: decodeArray(d.layer_rdm), region: d.region_rdm ? decodeArray(d.region_rdm) : null };
    const a = drawMatrix(left, mats.layer, table);
    leftBox.replaceChildren(rdmFigure(left, a, table, "1 − Pearson r", d.categories));
    leftTitle.textContent = `${d.layer} (1 − Pearson r, range ${fmt(a.lo)}–${fmt(a.hi)})`;
    if (mats.region) {
      const b = drawMatrix(right, mats.region, table);
      rightBox.replaceChildren(rdmFigure(right, b, table, "dissimilarity", d.categories));
      rightTitle.textContent = `${d.region}, mean over subjects (range ${fmt(b.lo)}–${fmt(b.hi)})`; right.hidden = false;
    } else { rightBox.replaceChildren(right); right.hidden = true; rightTitle.textContent = "no neural data"; }
    el.dataset.layer = d.layer;
    announce(root, "rdm", "result", { layer: d.layer });
  }
  function update(changed) {
    if (!changed || changed.some((c) => ["rdm_data", "rdm_region", "regions"].includes(c))) draw();
    status.update(); code.update(); figure.update();
  }
  update();
  return { el, update, traits: ["rdm_data", "rdm_region", "regions", "thumbs", "jobs", "code", "figures"] };
}
