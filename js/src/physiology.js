// In-silico physiology: the layer's grating survey (histograms of preferred orientation, OSI and F1/F0, the
// oblique effect, a channel list), one clicked channel's tuning curves, receptive fields (sparse noise and
// gradient), contrast response and size tuning, and fLoc category selectivity on demand.
import { h, fmt, announce } from "./dom.js";
import { decodeArray } from "./codec.js";
import { POSITIVE, NEGATIVE, colourTables, signedPosition } from "./colormap.js";
import { histogramPlot, xyPlot, colourBar } from "./plots.js";
import { saveFigure } from "./figure.js";
import { statusLine, codeBox } from "./status.js";

/** A histogram {edges, counts, x_label, y_label} as an <svg> with value axes and axis titles. */
export function histogram(hist) {
  const { edges = [], counts = [], x_label = "", y_label = "" } = hist || {};
  return histogramPlot(edges, counts, { xlabel: x_label, ylabel: y_label, cls: "nw-phys-hist" });
}

/** A curve {x, y, x_label, y_label} (and an optional fitted curve) as an <svg> with value axes and axis titles. */
export function curve(data, { fit = null, logX = false, marks = [] } = {}) {
  const series = [...(fit ? [{ x: fit.x, y: fit.y, stroke: NEGATIVE, cls: "nw-fit" }] : []),
    { x: data?.x || [], y: data?.y || [], stroke: POSITIVE, cls: "nw-line", points: true }];
  return xyPlot(series, { xlabel: data?.x_label || "", ylabel: data?.y_label || "", logX, marks, cls: "nw-phys-curve" });
}

/** A signed receptive-field map (decoded float32 array) drawn on a canvas with the kernel's signed colour table
 * over ± its largest absolute value, beside its colour bar. */
export function rfMap(payload, table, label, size = 112) {
  const arr = decodeArray(payload);
  const [hgt, wid] = arr.shape;
  const canvas = h("canvas", { class: "nw-rf", width: wid, height: hgt, style: { width: `${size}px`, height: `${(size * hgt) / wid}px`, imageRendering: "pixelated" } });
  const max = Math.max(1e-12, ...Array.from(arr.values, Math.abs));
  const ctx = canvas.getContext("2d");
  if (ctx) {
    const img = ctx.createImageData(wid, hgt);
    arr.values.forEach((v, i) => img.data.set([...table.at(signedPosition(v, max)), 255], i * 4));
    ctx.putImageData(img, 0, 0);
  }
  return h("div", { class: "nw-rf-map" }, [canvas, colourBar(table, -max, max, { label, height: (size * hgt) / wid - 16 })]);
}

export function physiologyPanel(model, root) {
  const status = statusLine(model, "physiology", root);
  const chStatus = statusLine(model, "physiology_channel", root);
  const catStatus = statusLine(model, "physiology_category", root);
  const code = codeBox(model, "physiology");
  const chCode = codeBox(model, "physiology_channel");
  const catCode = codeBox(model, "physiology_category");
  const figures = ["physiology", "physiology_channel", "physiology_category"].map((panel) => saveFigure(model, panel, root));
  const summary = h("div", { class: "nw-phys-summary" });
  const hists = h("div", { class: "nw-phys-hists" });
  const list = h("div", { class: "nw-phys-list" });
  const detail = h("div", { class: "nw-phys-channel" });
  const category = h("div", { class: "nw-phys-category" });
  const catButton = h("button", { class: "nw-button", text: "fLoc category selectivity", title: "d′ of every channel for faces, bodies, places and words (fLoc images)",
    onclick: () => model.send({ action: "phys_category" }) });
  const el = h("section", { class: "nw-panel nw-physiology", "data-panel": "physiology" }, [
    status.el, summary, hists, list, h("div", { class: "nw-panel-tools" }, [code.el, figures[0].el]),
    h("h4", { text: "One channel" }), chStatus.el, detail, h("div", { class: "nw-panel-tools" }, [chCode.el, figures[1].el]),
    h("h4", { text: "Category selectivity" }), catButton, catStatus.el, category, h("div", { class: "nw-panel-tools" }, [catCode.el, figures[2].el])]);

  function drawResult() {
    const r = model.get("phys_result") || {};
    if (!r.channels) { summary.replaceChildren(); hists.replaceChildren(); list.replaceChildren(); return; }
    const ob = r.oblique_effect || {};
    summary.replaceChildren(h("span", { text: `${r.layer}: ${r.n_responsive} of ${r.n_channels} channels respond to gratings, ${r.n_tuned} orientation-tuned (OSI ≥ ${fmt(r.osi_threshold, 2)}); median OSI ${fmt(r.osi_median)}; simple (F1/F0 > 1) ${fmt(100 * (r.fraction_simple ?? NaN), 2)} %; cardinal preferences ${fmt(100 * (ob.cardinal_fraction ?? NaN), 2)} % (p = ${fmt(ob.p_value, 2)})${r.partial ? ` — ${r.sfs_done} spatial frequencies so far` : ""}` }));
    hists.replaceChildren(...["preferred_orientation", "osi", "f1f0"].map((k) => histogram(r[k])));
    const ch = r.channels;
    const rows = ch.osi.map((_, i) => h("tr", { class: "nw-phys-row", "data-channel": i, title: "click: measure this channel", onclick: () => model.send({ action: "phys_channel", channel: i }) }, [
      h("td", { text: String(i) }), h("td", { text: fmt(ch.preferred_orientation[i], 3) }), h("td", { text: fmt(ch.osi[i]) }),
      h("td", { text: fmt(ch.preferred_sf[i]) }), h("td", { text: fmt(ch.f1f0[i]) }), h("td", { text: ch.cell_type[i] })]));
    list.replaceChildren(h("table", { class: "nw-table" }, [h("thead", {}, h("tr", {}, ["channel", "pref. ori. (°)", "OSI", "pref. SF (c/px)", "F1/F0", "type"].map((t) => h("th", { text: t })))), h("tbody", {}, rows)]));
    announce(root, "physiology", r.partial ? "partial" : "result", { layer: r.layer });
  }

  function figure(svg, caption) { return h("figure", {}, [svg, h("figcaption", { class: "nw-caption", text: caption })]); }

  function drawChannel() {
    const c = model.get("phys_channel") || {};
    if (!c.tuning) { detail.replaceChildren(); return; }
    const t = c.tuning, rf = c.rf, con = c.contrast, size = c.size;
    const table = colourTables(model).signed;
    const deg = (v) => (v === null || v === undefined ? "" : ` (${fmt(v, 2)}°)`);
    detail.replaceChildren(
      h("div", { class: "nw-phys-measures", text: `channel ${c.channel} (${t.cell_type}): preferred orientation ${fmt(t.preferred_orientation_deg)}°, OSI ${fmt(t.osi)}, bandwidth ${fmt(t.orientation_bandwidth_deg)}°; preferred SF ${fmt(t.preferred_sf_cpp)} c/px${t.preferred_sf_cpd === null ? "" : ` = ${fmt(t.preferred_sf_cpd)} c/°`}, ${fmt(t.sf_bandwidth_octaves)} octaves; F1/F0 ${fmt(t.f1f0)}` }),
      h("div", { class: "nw-phys-figures" }, [
        figure(curve(t.orientation_curve), "orientation tuning at the preferred SF"),
        figure(curve(t.sf_curve, { logX: true }), "SF tuning at the preferred orientation"),
        figure(curve(t.phase_curve), `response over phase (F1/F0 ${fmt(t.f1f0)})`),
        figure(curve(con.curve, { fit: con.fit, logX: (con.curve.x || []).every((v) => v > 0), marks: [{ value: con.c50, label: `c50 ${fmt(con.c50)}`, cls: "nw-c50" }] }),
          `contrast: c50 ${fmt(con.c50)}, n ${fmt(con.n)} (Naka–Rushton, R² ${fmt(con.r2, 2)})`),
        figure(curve(size.curve, { logX: true, marks: [{ value: size.preferred_diameter_px, label: "preferred diameter", cls: "nw-preferred" }] }),
          `size: preferred ${fmt(size.preferred_diameter_px)} px, suppression index ${fmt(size.suppression_index)}`)]),
      h("div", { class: "nw-phys-figures" }, [
        figure(rfMap(rf.sparse_noise.signed, table, "ON − OFF response"), `sparse noise (ON − OFF): size ${fmt(rf.sparse_noise.size_px)} px${deg(rf.sparse_noise.size_deg)}`),
        figure(rfMap(rf.gradient.signed, table, "mean input gradient"), `gradient: size ${fmt(rf.gradient.size_px)} px${deg(rf.gradient.size_deg)}`),
        h("div", { class: "nw-caption", text: `the two maps: centres ${fmt(rf.comparison.centre_distance_px)} px apart, size ratio ${fmt(rf.comparison.size_ratio)}, map correlation ${fmt(rf.comparison.map_correlation)}` })]),
      h("button", { class: "nw-button", text: "its optimal stimulus", title: "open this channel in the optimal-stimuli panel",
        onclick: () => { model.send({ action: "open_channel", channel: c.channel }); model.set("active_tab", "featurevis"); model.save_changes(); } }));
    announce(root, "physiology", "channel", { channel: c.channel });
  }

  function drawCategory() {
    const c = model.get("phys_category") || {};
    if (!c.table) { category.replaceChildren(); return; }
    const rows = c.domains.map((d) => {
      const r = c.table[d];
      return h("tr", { "data-domain": d }, [h("td", { text: d }), h("td", { text: `${fmt(100 * r.fraction, 3)} %` }), h("td", { text: fmt(r.fraction_p, 2) }),
        h("td", { text: r.control_fraction === undefined ? "–" : `${fmt(100 * r.control_fraction, 3)} %` }),
        h("td", { text: `${r.best_channel} (d′ ${fmt(r.best_d_prime)})`, class: "nw-link", onclick: () => model.send({ action: "phys_channel", channel: r.best_channel }) })]);
    });
    category.replaceChildren(h("table", { class: "nw-table" }, [
      h("thead", {}, h("tr", {}, ["domain", `channels with d′ > ${fmt(c.threshold, 2)}`, "permutation p", "random-weights control", "most selective channel"].map((t) => h("th", { text: t })))),
      h("tbody", {}, rows)]));
    announce(root, "physiology", "category", { layer: c.layer });
  }

  function update(changed) {
    if (!changed || changed.includes("phys_result")) drawResult();
    if (!changed || changed.includes("phys_channel")) drawChannel();
    if (!changed || changed.includes("phys_category")) drawCategory();
    for (const x of [status, chStatus, catStatus, code, chCode, catCode, ...figures]) x.update();
  }
  update();
  return { el, update, traits: ["phys_result", "phys_channel", "phys_category", "jobs", "code", "figures"] };
}
