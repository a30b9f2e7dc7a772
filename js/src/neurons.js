// Single neurons: the selected layer's held-out r per neuron (sortable list, histogram against the neurons'
// reliability), the layer curve of median ceiled predictivity, and "what does this neuron want?" (click a neuron).
import { h, s, fmt, announce } from "./dom.js";
import { pngUrl } from "./codec.js";
import { POSITIVE } from "./colormap.js";
import { histogramPlot, yAxis, niceTicks, axisTitles } from "./plots.js";
import { saveFigure } from "./figure.js";
import { statusLine, codeBox } from "./status.js";

const COLUMNS = [["id", "neuron"], ["r", "held-out r"], ["reliability", "reliability"], ["ceiled", "ceiled"]];

/** Histogram of per-neuron r (bins from min(0, r) to max(1, r, ceiling)) with the ceiling as a dashed line. */
export function neuronHistogram(r, ceiling, { bins = 16 } = {}) {
  const vals = r.filter((v) => v !== null && Number.isFinite(v));
  const lo = Math.min(0, ...vals), hi = Math.max(1, ...vals, ceiling ?? 0);
  const counts = new Array(bins).fill(0);
  for (const v of vals) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))] += 1;
  const edges = counts.map((_, i) => lo + (i * (hi - lo)) / bins).concat(hi);
  return histogramPlot(edges, counts, { width: 280, xlabel: "held-out r", ylabel: "neurons", label: "held-out r per neuron", cls: "nw-neuron-hist",
    marks: [{ value: ceiling, label: `ceiling ${fmt(ceiling)} (ceiled = 1 at the median reliability)`, cls: "nw-ceiling" }] });
}

/** The layer curve of median ceiled predictivity; onSelect(layer) when a point is clicked. */
export function ceiledCurve(curve, selected, onSelect, { width = 320, height = 170, ylabel = "median ceiled r" } = {}) {
  const { layers = [], median_ceiled: ys = [] } = curve || {};
  const vals = ys.filter((v) => v !== null);
  const pad = { l: 54, r: 10, t: 8, b: 62 };
  const area = { l: pad.l, r: width - pad.r, t: pad.t, b: height - pad.b };
  const x = (i) => pad.l + (i / Math.max(1, layers.length - 1)) * (width - pad.l - pad.r);
  const svg = s("svg", { class: "nw-curve nw-neuron-curve", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "median ceiled predictivity per layer" });
  const y = yAxis(svg, area, niceTicks(Math.min(0, ...vals), Math.max(0.05, ...vals), 4));
  const d = ys.map((v, i) => (v === null ? "" : `${i && ys[i - 1] !== null ? "L" : "M"}${x(i)},${y(v)}`)).join("");
  svg.append(s("path", { d, stroke: POSITIVE, fill: "none", "stroke-width": 2 }));
  axisTitles(svg, area, { xlabel: "layer", ylabel, height });
  layers.forEach((name, i) => {
    const t = s("text", { x: x(i), y: area.b + 10, class: `nw-tick${name === selected ? " nw-tick-selected" : ""}`, "text-anchor": "end", transform: `rotate(-45 ${x(i)} ${area.b + 10})` });
    t.textContent = name;
    svg.append(t);
    if (ys[i] === null) return;
    svg.append(s("circle", { cx: x(i), cy: y(ys[i]), r: name === selected ? 5 : 3.5, fill: POSITIVE, class: "nw-point", "data-layer": name,
      onclick: () => onSelect && onSelect(name) }, [Object.assign(s("title"), { textContent: `${name}: ${fmt(ys[i])} (click to select)` })]));
  });
  return svg;
}

export function neuronsPanel(model, root) {
  const status = statusLine(model, "neurons", root);
  const wantStatus = statusLine(model, "neurons_want", root);
  const code = codeBox(model, "neurons");
  const wantCode = codeBox(model, "neurons_want");
  const figure = saveFigure(model, "neurons", root);
  const wantFigure = saveFigure(model, "neurons_want", root);
  const summary = h("div", { class: "nw-neuron-summary" });
  const plots = h("div", { class: "nw-neuron-plots" });
  const list = h("div", { class: "nw-neuron-list" });
  const want = h("div", { class: "nw-neuron-want" });
  const el = h("section", { class: "nw-panel nw-neurons", "data-panel": "neurons" }, [
    status.el, summary, plots, list, h("div", { class: "nw-panel-tools" }, [code.el, figure.el]),
    h("h4", { text: "What does this neuron want?" }), wantStatus.el, want, h("div", { class: "nw-panel-tools" }, [wantCode.el, wantFigure.el])]);
  let sortKey = "r";
  let descending = true;
  let chosen = null;

  function ask(index) {
    chosen = index;
    model.send({ action: "want", neuron: index });
    drawList();
  }

  function drawList() {
    const r = model.get("neuron_result") || {};
    if (!r.ids) { list.replaceChildren(); return; }
    const order = r.ids.map((_, i) => i);
    const key = (i) => (sortKey === "id" ? r.ids[i] : r[sortKey][i]);
    order.sort((a, b) => {
      const ka = key(a), kb = key(b);
      if (ka === null) return 1;
      if (kb === null) return -1;
      const c = ka < kb ? -1 : ka > kb ? 1 : 0;
      return descending ? -c : c;
    });
    const head = h("tr", {}, COLUMNS.map(([k, label]) => h("th", { class: "nw-sortable", "data-key": k, "aria-sort": k === sortKey ? (descending ? "descending" : "ascending") : "none",
      text: `${label}${k === sortKey ? (descending ? " ▾" : " ▴") : ""}`, onclick: () => { descending = k === sortKey ? !descending : k !== "id"; sortKey = k; drawList(); } })));
    const body = order.map((i) => h("tr", { class: `nw-neuron-row${i === chosen ? " nw-active" : ""}`, "data-neuron": i, title: "click: what does this neuron want?", onclick: () => ask(i) }, [
      h("td", { text: r.ids[i] }), h("td", { text: fmt(r.r[i]) }), h("td", { text: fmt(r.reliability[i]) }), h("td", { text: fmt(r.ceiled[i]) })]));
    list.replaceChildren(h("table", { class: "nw-table" }, [h("thead", {}, head), h("tbody", {}, body)]));
  }

  function drawResult() {
    const r = model.get("neuron_result") || {};
    if (!r.ids) { summary.replaceChildren(); plots.replaceChildren(); drawList(); return; }
    summary.replaceChildren(h("span", { text: `${r.layer}: median held-out r ${fmt(r.median)} over ${r.ids.length} neurons (median reliability ${fmt(r.median_reliability)}; ceiled = ${r.formula})` }));
    plots.replaceChildren(
      h("figure", {}, [neuronHistogram(r.r, r.ceiling_r), h("figcaption", { class: "nw-caption", text: `held-out r per neuron; dashed: the ceiling ${fmt(r.ceiling_r)} (ceiled = 1 at the median reliability ${fmt(r.median_reliability)})` })]),
      h("figure", {}, [ceiledCurve(r.curve, r.layer, (layer) => { model.set("selected_layer", layer); model.save_changes(); }),
        h("figcaption", { class: "nw-caption", text: `median ceiled predictivity (${r.formula}) per layer` })]));
    drawList();
    announce(root, "neurons", "result", { layer: r.layer });
  }

  function strip(title, items, label) {
    return h("div", { class: "nw-neuron-strip" }, [h("div", { class: "nw-caption", text: title }),
      h("div", { class: "nw-tiles" }, items.map((it) => h("figure", { class: "nw-tile", title: it.id }, [
        h("img", { src: pngUrl(it.image), alt: it.id, width: 72, height: 72 }), h("figcaption", { class: "nw-tile-label", text: `${label} ${fmt(it.value)}` })])))]);
  }

  function drawWant() {
    const w = model.get("neuron_want") || {};
    if (!w.image) { want.replaceChildren(); return; }
    want.replaceChildren(
      h("div", { class: "nw-neuron-optimal" }, [
        h("img", { src: pngUrl(w.image), alt: `optimal stimulus of neuron ${w.neuron}`, width: 144, height: 144 }),
        h("div", { class: "nw-neuron-numbers" }, [
          h("div", { text: `neuron ${w.neuron}, readout from ${w.layer}` }),
          h("div", { class: "nw-neuron-predicted", text: `predicted response ${fmt(w.predicted)} ± ${fmt(w.spread, 2)} (SD over bootstrap refits of the readout)` }),
          h("div", { text: `strongest recorded response ${fmt(w.recorded_max)}` }),
          h("div", { text: `readout's held-out r ${fmt(w.heldout_r)} [${fmt(w.heldout_ci[0])}, ${fmt(w.heldout_ci[1])}] on ${w.n_test} images it was not fitted on` })])]),
      strip("real images with the strongest recorded responses", w.recorded, "rec."),
      strip("real images the model predicts drive it most (each predicted by a fit that never saw it)", w.model, "pred."));
    announce(root, "neurons", "want", { neuron: w.neuron });
  }

  function update(changed) {
    if (!changed || changed.includes("neuron_result")) drawResult();
    if (!changed || changed.includes("neuron_want")) drawWant();
    for (const x of [status, wantStatus, code, wantCode, figure, wantFigure]) x.update();
  }
  update();
  return { el, update, traits: ["neuron_result", "neuron_want", "jobs", "code", "figures"] };
}
