// Brain alignment: the selected layer's score per region (CI, noise ceiling), the layer × region curve with
// the selected layer highlighted and the random-init control dashed (click a point: select that layer).
import { h, s, fmt, announce } from "./dom.js";
import { OKABE_ITO } from "./colormap.js";
import { scoreText, niceTicks, yAxis } from "./plots.js";
import { statusLine, codeBox } from "./status.js";
import { saveFigure } from "./figure.js";

/** The layer × region curve as an <svg>; onSelect(layer) when a point is clicked. */
export function alignmentCurve(result, onSelect, { width = 480, height = 256 } = {}) {
  const { layers = [], regions = [], score = {}, ci_low = {}, ci_high = {}, control = {}, ceiling = {} } = result;
  const pad = { l: 56, r: 34, t: 10, b: 90 };
  const all = [];
  for (const reg of regions) for (const arr of [score[reg], ci_low[reg], ci_high[reg], control[reg], (result.control_low || {})[reg], (result.control_high || {})[reg]]) for (const v of arr || []) if (v !== null && Number.isFinite(v)) all.push(v);
  for (const reg of regions) for (const v of [ceiling[reg], (result.ceiling_upper || {})[reg]]) if (v !== null && v !== undefined) all.push(v);
  const axis = niceTicks(Math.min(0, ...all), Math.max(0.05, ...all), 5);
  const x = (i) => pad.l + (i / Math.max(1, layers.length - 1)) * (width - pad.l - pad.r);
  const svg = s("svg", { class: "nw-curve", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "alignment per layer and region" });
  const y = yAxis(svg, { l: pad.l, r: width - pad.r, t: pad.t, b: height - pad.b }, axis);
  svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: y(0), y2: y(0), class: "nw-axis nw-zero" }));
  const cy = pad.t + (height - pad.t - pad.b) / 2;
  svg.append(Object.assign(s("text", { x: 11, y: cy, class: "nw-axis-title", "data-axis": "y", "text-anchor": "middle", transform: `rotate(-90 11 ${cy})` }), { textContent: result.label || "score" }),
    Object.assign(s("text", { x: (pad.l + width - pad.r) / 2, y: height - 3, class: "nw-axis-title", "data-axis": "x", "text-anchor": "middle" }), { textContent: "layer" }));
  const sel = layers.indexOf(result.selected);
  if (sel >= 0) svg.append(s("line", { x1: x(sel), x2: x(sel), y1: pad.t, y2: height - pad.b, class: "nw-highlight" }));
  layers.forEach((name, i) => {
    const t = s("text", { x: x(i), y: height - pad.b + 10, class: `nw-tick${i === sel ? " nw-tick-selected" : ""}`, transform: `rotate(45 ${x(i)} ${height - pad.b + 10})` });
    t.textContent = name;
    svg.append(t);
  });
  regions.forEach((reg, r) => {
    const color = OKABE_ITO[r % OKABE_ITO.length];
    const c = ceiling[reg];
    const cu = (result.ceiling_upper || {})[reg];
    if (c !== null && c !== undefined && cu !== null && cu !== undefined) svg.append(s("rect", { x: pad.l, width: width - pad.l - pad.r, y: y(Math.max(c, cu)), height: Math.abs(y(c) - y(cu)), fill: color, opacity: 0.08, class: "nw-ceiling-band" },
      [Object.assign(s("title"), { textContent: `${reg} noise ceiling: lower ${fmt(c)}, upper ${fmt(cu)}` })]));
    if (c !== null && c !== undefined) svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: y(c), y2: y(c), stroke: color, "stroke-width": 1, "stroke-dasharray": "1 3", class: "nw-ceiling" }, [Object.assign(s("title"), { textContent: `${reg} noise ceiling ${fmt(c)}` })]));
    const band = layers.map((_, i) => [ci_low[reg]?.[i], ci_high[reg]?.[i]]);
    if (band.every(([a, b]) => a !== null && a !== undefined && b !== null && b !== undefined)) {
      const d = band.map(([, b], i) => `${i ? "L" : "M"}${x(i)},${y(b)}`).join("") + band.map(([a], i) => i).reverse().map((i) => `L${x(i)},${y(band[i][0])}`).join("") + "Z";
      svg.append(s("path", { d, fill: color, opacity: 0.2, stroke: "none" }));
    }
    const clo = (result.control_low || {})[reg], chi = (result.control_high || {})[reg];
    if (clo && chi && clo.every((v, i) => v !== null && chi[i] !== null)) {
      const d = chi.map((v, i) => `${i ? "L" : "M"}${x(i)},${y(v)}`).join("") + clo.map((_, i) => i).reverse().map((i) => `L${x(i)},${y(clo[i])}`).join("") + "Z";
      svg.append(s("path", { d, fill: color, opacity: 0.1, stroke: "none", class: "nw-control-band" }));
    }
    for (const [series, dash] of [[control[reg], "4 3"], [score[reg], null]]) {
      if (!series || series.every((v) => v === null)) continue;
      const d = series.map((v, i) => (v === null ? "" : `${i && series[i - 1] !== null ? "L" : "M"}${x(i)},${y(v)}`)).join("");
      svg.append(s("path", { d, stroke: color, fill: "none", "stroke-width": 2, "stroke-dasharray": dash, class: dash ? "nw-control-line" : "nw-score-line" }));
    }
    (score[reg] || []).forEach((v, i) => {
      if (v === null) return;
      svg.append(s("circle", { cx: x(i), cy: y(v), r: i === sel ? 5 : 3.5, fill: color, class: "nw-point", "data-layer": layers[i], "data-region": reg,
        onclick: () => onSelect && onSelect(layers[i]) }, [Object.assign(s("title"), { textContent: `${layers[i]} · ${reg}: ${fmt(v)} (click to select)` })]));
    });
  });
  return svg;
}

export function alignmentPanel(model, root) {
  // the pickers offer the engine's own lists (align_choices): metrics, and the settings each metric uses
  const choices = model.get("align_choices") || { metrics: [], settings: {} };
  const metric = h("select", { class: "nw-input", "aria-label": "metric" }, choices.metrics.map((m) => h("option", { value: m.name, text: m.label })));
  const control = h("input", { type: "checkbox" });
  const settings = Object.entries(choices.settings).map(([key, c]) => {
    const sel = h("select", { class: "nw-input", "aria-label": c.label, "data-setting": key }, c.values.map((v) => h("option", { value: v, text: v })));
    sel.addEventListener("change", () => change({ [key]: sel.value }));
    const usedBy = choices.metrics.filter((m) => m.settings.includes(key)).map((m) => m.name);
    return { key, sel, usedBy, el: h("label", { class: "nw-control", "data-for": usedBy.join(" ") }, [c.label, sel]) };
  });
  const table = h("div", { class: "nw-scores" });
  const curve = h("div", { class: "nw-curve-wrap" });
  const legend = h("div", { class: "nw-legend" });
  const status = statusLine(model, "alignment", root);
  const code = codeBox(model, "alignment");
  const figure = saveFigure(model, "alignment", root);
  const el = h("section", { class: "nw-panel nw-alignment", "data-panel": "alignment" }, [
    h("div", { class: "nw-controls" }, [h("label", { class: "nw-control" }, ["metric", metric]), ...settings.map((c) => c.el), h("label", { class: "nw-control" }, [control, "random-init control"])]),
    status.el, table, curve, legend, h("div", { class: "nw-panel-tools" }, [code.el, figure.el])]);
  const change = (patch) => { model.set("align_settings", { ...model.get("align_settings"), ...patch }); model.save_changes(); };
  metric.addEventListener("change", () => change({ metric: metric.value }));
  control.addEventListener("change", () => change({ control: control.checked }));

  function draw() {
    const st = model.get("align_settings") || {};
    metric.value = st.metric;
    control.checked = !!st.control;
    for (const c of settings) {
      c.sel.value = st[c.key];
      c.el.hidden = !c.usedBy.includes(st.metric);
    }
    const r = model.get("align_result") || {};
    if (!r.layers) { table.replaceChildren(); curve.replaceChildren(); legend.replaceChildren(); table.dataset.layer = ""; return; }
    const i = r.layers.indexOf(r.selected);
    table.dataset.layer = r.selected;
    table.replaceChildren(h("table", { class: "nw-table" }, [
      h("thead", {}, h("tr", {}, ["region", `${r.label} (95% CI)`, "noise ceiling", "random control"].map((t) => h("th", { text: t })))),
      h("tbody", {}, r.regions.map((reg) => h("tr", { "data-region": reg }, [
        h("td", { text: reg }), h("td", { class: "nw-align-score", text: scoreText(r.score[reg][i], r.ci_low[reg][i], r.ci_high[reg][i]) }),
        h("td", { class: "nw-align-ceiling", text: (r.ceiling_upper || {})[reg] !== null && (r.ceiling_upper || {})[reg] !== undefined ? `${fmt(r.ceiling[reg])}–${fmt(r.ceiling_upper[reg])}` : fmt(r.ceiling[reg]), title: (r.ceiling_note || {})[reg] || "" }),
        h("td", { class: "nw-align-control", text: r.pending === "random control" ? "computing…" : fmt(r.control[reg]?.[i]) })]))),
    ]));
    curve.replaceChildren(alignmentCurve(r, (layer) => { model.set("selected_layer", layer); model.save_changes(); }));
    legend.replaceChildren(...r.regions.map((reg, k) => h("span", { class: "nw-legend-item" }, [h("span", { class: "nw-swatch", style: { background: OKABE_ITO[k % OKABE_ITO.length] } }), reg])),
      h("span", { class: "nw-caption", text: `solid: trained (band: 95% CI), dashed: random init${r.control_seeds > 1 ? ` (mean of ${r.control_seeds} initialisations; light band: their range)` : ""}, dotted: noise ceiling (lower bound; shaded up to its upper bound)` }));
    announce(root, "alignment", "result", { layer: r.selected });
  }
  function update(changed) {
    if (!changed || changed.some((c) => c === "align_result" || c === "align_settings")) draw();
    status.update(); code.update(); figure.update();
  }
  update();
  return { el, update, traits: ["align_settings", "align_result", "jobs", "code", "figures"] };
}
