// In-silico physiology: the layer's grating survey (histograms of preferred orientation, OSI and F1/F0, the
// oblique effect, a channel list), one clicked channel's tuning curves, receptive fields (sparse noise and
// gradient), contrast response and size tuning, and fLoc category selectivity on demand.
import { h, s, fmt, announce } from "./dom.js";
import { decodeArray } from "./codec.js";
import { POSITIVE, NEGATIVE } from "./colormap.js";
import { statusLine, codeBox } from "./status.js";

/** A histogram {edges, counts, x_label, y_label} as an <svg> with labelled axes. */
export function histogram(hist, { width = 200, height = 120 } = {}) {
  const { edges = [], counts = [], x_label = "", y_label = "" } = hist || {};
  const pad = { l: 26, r: 6, t: 6, b: 30 };
  const top = Math.max(1, ...counts);
  const bw = (width - pad.l - pad.r) / Math.max(1, counts.length);
  const svg = s("svg", { class: "nw-plot nw-phys-hist", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": x_label });
  counts.forEach((c, i) => {
    const bh = (c / top) * (height - pad.t - pad.b);
    svg.append(s("rect", { x: pad.l + i * bw + 0.5, y: height - pad.b - bh, width: Math.max(1, bw - 1), height: bh, fill: POSITIVE },
      [Object.assign(s("title"), { textContent: `${fmt(edges[i], 2)}–${fmt(edges[i + 1], 2)}: ${c}` })]));
  });
  svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b, class: "nw-axis" }),
    s("line", { x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b, class: "nw-axis" }));
  const tick = (x, y, text, anchor = "middle") => svg.append(Object.assign(s("text", { x, y, class: "nw-tick", "text-anchor": anchor }), { textContent: text }));
  if (edges.length) { tick(pad.l, height - pad.b + 11, fmt(edges[0], 2), "start"); tick(width - pad.r, height - pad.b + 11, fmt(edges[edges.length - 1], 2), "end"); }
  tick(pad.l - 3, pad.t + 8, String(top), "end");
  tick(pad.l - 3, height - pad.b, "0", "end");
  tick((pad.l + width - pad.r) / 2, height - 4, x_label);
  svg.append(Object.assign(s("text", { x: 9, y: (pad.t + height - pad.b) / 2, class: "nw-tick", "text-anchor": "middle", transform: `rotate(-90 9 ${(pad.t + height - pad.b) / 2})` }), { textContent: y_label }));
  return svg;
}

/** A curve {x, y, x_label, y_label} (and an optional fitted curve) as an <svg> with labelled axes. */
export function curve(data, { fit = null, width = 200, height = 120, logX = false } = {}) {
  const xs = (data?.x || []).map(Number), ys = (data?.y || []).map((v) => (v === null ? NaN : Number(v)));
  const fx = (fit?.x || []).map(Number), fy = (fit?.y || []).map((v) => (v === null ? NaN : Number(v)));
  const tx = (v) => (logX ? Math.log2(Math.max(v, 1e-12)) : v);
  const allX = [...xs, ...fx].map(tx).filter(Number.isFinite), allY = [...ys, ...fy].filter(Number.isFinite);
  const pad = { l: 34, r: 6, t: 6, b: 30 };
  const svg = s("svg", { class: "nw-plot nw-phys-curve", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": data?.x_label || "" });
  if (!allX.length || !allY.length) return svg;
  const [x0, x1] = [Math.min(...allX), Math.max(...allX)], [y0, y1] = [Math.min(0, ...allY), Math.max(...allY)];
  const x = (v) => pad.l + ((tx(v) - x0) / (x1 - x0 || 1)) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - ((v - y0) / (y1 - y0 || 1)) * (height - pad.t - pad.b);
  const path = (X, Y) => X.map((v, i) => (Number.isFinite(Y[i]) ? `${i && Number.isFinite(Y[i - 1]) ? "L" : "M"}${x(v).toFixed(1)},${y(Y[i]).toFixed(1)}` : "")).join("");
  svg.append(s("line", { x1: pad.l, x2: width - pad.r, y1: y(0), y2: y(0), class: "nw-axis" }),
    s("line", { x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b, class: "nw-axis" }));
  if (fit) svg.append(s("path", { d: path(fx, fy), stroke: NEGATIVE, fill: "none", "stroke-width": 1.5, class: "nw-fit" }));
  svg.append(s("path", { d: path(xs, ys), stroke: POSITIVE, fill: "none", "stroke-width": 2, class: "nw-line" }));
  xs.forEach((v, i) => { if (Number.isFinite(ys[i])) svg.append(s("circle", { cx: x(v), cy: y(ys[i]), r: 2.5, fill: POSITIVE }, [Object.assign(s("title"), { textContent: `${fmt(v)}: ${fmt(ys[i])}` })])); });
  const tick = (xx, yy, text, anchor = "middle") => svg.append(Object.assign(s("text", { x: xx, y: yy, class: "nw-tick", "text-anchor": anchor }), { textContent: text }));
  tick(pad.l, height - pad.b + 11, fmt(xs[0] ?? fx[0], 2), "start");
  tick(width - pad.r, height - pad.b + 11, fmt(xs[xs.length - 1] ?? fx[fx.length - 1], 2), "end");
  tick(pad.l - 3, y(y1) + 8, fmt(y1, 2), "end");
  tick(pad.l - 3, y(y0), fmt(y0, 2), "end");
  tick((pad.l + width - pad.r) / 2, height - 4, data.x_label || "");
  return svg;
}

/** A signed receptive-field map (decoded float32 array) drawn on a canvas: blue positive, orange negative. */
export function rfCanvas(payload, size = 112) {
  const arr = decodeArray(payload);
  const [hgt, wid] = arr.shape;
  const canvas = h("canvas", { class: "nw-rf", width: wid, height: hgt, style: { width: `${size}px`, height: `${(size * hgt) / wid}px`, imageRendering: "pixelated" } });
  const max = Math.max(1e-12, ...Array.from(arr.values, Math.abs));
  const ctx = canvas.getContext("2d");
  if (!ctx) return canvas;
  const img = ctx.createImageData(wid, hgt);
  arr.values.forEach((v, i) => {
    const a = Math.min(1, Math.abs(v) / max);
    const [r, g, b] = v >= 0 ? [0, 114, 178] : [230, 159, 0];
    img.data.set([255 - a * (255 - r), 255 - a * (255 - g), 255 - a * (255 - b), 255], i * 4);
  });
  ctx.putImageData(img, 0, 0);
  return canvas;
}

export function physiologyPanel(model, root) {
  const status = statusLine(model, "physiology", root);
  const chStatus = statusLine(model, "physiology_channel", root);
  const catStatus = statusLine(model, "physiology_category", root);
  const code = codeBox(model, "physiology");
  const chCode = codeBox(model, "physiology_channel");
  const catCode = codeBox(model, "physiology_category");
  const summary = h("div", { class: "nw-phys-summary" });
  const hists = h("div", { class: "nw-phys-hists" });
  const list = h("div", { class: "nw-phys-list" });
  const detail = h("div", { class: "nw-phys-channel" });
  const category = h("div", { class: "nw-phys-category" });
  const catButton = h("button", { class: "nw-button", text: "fLoc category selectivity", title: "d′ of every channel for faces, bodies, places and words (fLoc images)",
    onclick: () => model.send({ action: "phys_category" }) });
  const el = h("section", { class: "nw-panel nw-physiology", "data-panel": "physiology" }, [
    status.el, summary, hists, list, code.el,
    h("h4", { text: "One channel" }), chStatus.el, detail, chCode.el,
    h("h4", { text: "Category selectivity" }), catButton, catStatus.el, category, catCode.el]);

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
    const deg = (v) => (v === null || v === undefined ? "" : ` (${fmt(v, 2)}°)`);
    detail.replaceChildren(
      h("div", { class: "nw-phys-measures", text: `channel ${c.channel} (${t.cell_type}): preferred orientation ${fmt(t.preferred_orientation_deg)}°, OSI ${fmt(t.osi)}, bandwidth ${fmt(t.orientation_bandwidth_deg)}°; preferred SF ${fmt(t.preferred_sf_cpp)} c/px${t.preferred_sf_cpd === null ? "" : ` = ${fmt(t.preferred_sf_cpd)} c/°`}, ${fmt(t.sf_bandwidth_octaves)} octaves; F1/F0 ${fmt(t.f1f0)}` }),
      h("div", { class: "nw-phys-figures" }, [
        figure(curve(t.orientation_curve), "orientation tuning at the preferred SF"),
        figure(curve(t.sf_curve, { logX: true }), "SF tuning at the preferred orientation"),
        figure(curve(t.phase_curve), `response over phase (F1/F0 ${fmt(t.f1f0)})`),
        figure(curve(con.curve, { fit: con.fit }), `contrast: c50 ${fmt(con.c50)}, n ${fmt(con.n)} (Naka–Rushton, R² ${fmt(con.r2, 2)})`),
        figure(curve(size.curve, { logX: true }), `size: preferred ${fmt(size.preferred_diameter_px)} px, suppression index ${fmt(size.suppression_index)}`)]),
      h("div", { class: "nw-phys-figures" }, [
        figure(rfCanvas(rf.sparse_noise.signed), `sparse noise (ON − OFF): size ${fmt(rf.sparse_noise.size_px)} px${deg(rf.sparse_noise.size_deg)}`),
        figure(rfCanvas(rf.gradient.signed), `gradient: size ${fmt(rf.gradient.size_px)} px${deg(rf.gradient.size_deg)}`),
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
    for (const x of [status, chStatus, catStatus, code, chCode, catCode]) x.update();
  }
  update();
  return { el, update, traits: ["phys_result", "phys_channel", "phys_category", "jobs", "code"] };
}
