// Attributions: pick a stimulus and a target; methods side by side on one shared scale; the layer's channel
// contributions as ranked bars (a click opens that channel's optimal stimulus); the sanity check on demand.
import { h, fmt, announce } from "./dom.js";
import { pngUrl } from "./codec.js";
import { barChart, linePlot, colourBar } from "./plots.js";
import { colourTables } from "./colormap.js";
import { statusLine, codeBox } from "./status.js";
import { saveFigure } from "./figure.js";

/** The maps' colour bar: the signed table over ±scale, or the unsigned one over [0, scale] for one sign;
 * without a shared scale each map is scaled to its own maximum (the bar is then in units of it). */
export function mapColourBar(tables, result) {
  const signed = !!result.signed;
  const shared = result.scale !== null && result.scale !== undefined;
  const hi = shared ? result.scale : 1;
  const what = signed ? "attribution" : `attribution (${result.sign})`;
  return colourBar(signed ? tables.signed : tables.unsigned, signed ? -hi : 0, hi,
    { label: shared ? `${what} (one scale)` : `${what} / map's max`, height: 140, width: 74 });
}

export function attributionPanel(model, root) {
  const strip = h("div", { class: "nw-strip nw-stimuli", role: "listbox", "aria-label": "stimuli" });
  const target = h("select", { class: "nw-input", "aria-label": "target" }, [
    h("option", { value: "predicted", text: "predicted class" }), h("option", { value: "class", text: "class…" }), h("option", { value: "unit", text: "unit of this layer…" })]);
  const cls = h("select", { class: "nw-input", "aria-label": "class" });
  const unit = h("input", { class: "nw-input", type: "number", min: 0, value: 0, "aria-label": "channel" });
  const shared = h("input", { type: "checkbox", "aria-label": "one colour scale for all maps" });
  const sign = h("select", { class: "nw-input", "aria-label": "sign" }, (model.get("attr_signs") || []).map((v) => h("option", { value: v, text: v })));
  const methods = h("div", { class: "nw-methods" });
  const maps = h("div", { class: "nw-maps" });
  const bars = h("div", { class: "nw-contrib" });
  const sanityPlot = h("div", { class: "nw-sanity" });
  const status = statusLine(model, "attribution", root);
  const contribStatus = statusLine(model, "contributions", root);
  const sanityStatus = statusLine(model, "sanity", root);
  const code = codeBox(model, "attribution");
  const contribCode = codeBox(model, "contributions");
  const sanityCode = codeBox(model, "sanity");
  const mapsFigure = saveFigure(model, "attribution", root);
  const contribFigure = saveFigure(model, "contributions", root);
  const sanityFigure = saveFigure(model, "sanity", root);
  const thumbPrev = h("button", { class: "nw-button", text: "◀", title: "previous stimuli", onclick: () => thumbPage(-1) });
  const thumbNext = h("button", { class: "nw-button", text: "▶", title: "next stimuli", onclick: () => thumbPage(1) });
  const thumbText = h("span", { class: "nw-page" });
  const thumbPager = h("div", { class: "nw-pager" }, [thumbPrev, thumbText, thumbNext]);
  const sanityMethod = h("select", { class: "nw-input", "aria-label": "sanity-check method" });
  sanityMethod.addEventListener("change", () => change({ sanity_method: sanityMethod.value }));
  const sanityBtn = h("button", { class: "nw-button", text: "Sanity check", title: "Randomise the layers from the top down and see whether the map changes",
    onclick: () => model.send({ action: "sanity" }) });
  const el = h("section", { class: "nw-panel nw-attribution", "data-panel": "attribution" }, [
    thumbPager, strip, h("div", { class: "nw-controls" }, [h("label", { class: "nw-control" }, ["target", target]), cls, unit, h("label", { class: "nw-control" }, ["show", sign]), h("label", { class: "nw-control", title: "one absolute colour scale for every map (maps comparable); off: each map on its own scale" }, [shared, "shared scale"]), methods]),
    status.el, maps, h("div", { class: "nw-panel-tools" }, [code.el, mapsFigure.el]),
    h("div", { class: "nw-subtitle", text: "this layer's channel contributions to the target (click a bar: its optimal stimulus)" }),
    contribStatus.el, bars, h("div", { class: "nw-panel-tools" }, [contribCode.el, contribFigure.el]), h("div", { class: "nw-controls" }, [sanityBtn, h("label", { class: "nw-control" }, ["for", sanityMethod])]), sanityStatus.el, sanityPlot, h("div", { class: "nw-panel-tools" }, [sanityCode.el, sanityFigure.el]),
  ]);

  function change(patch) {
    model.set("attr_settings", { ...model.get("attr_settings"), ...patch });
    model.save_changes();
  }
  target.addEventListener("change", () => change({ target: target.value }));
  cls.addEventListener("change", () => change({ class: parseInt(cls.value, 10) }));
  unit.addEventListener("change", () => change({ channel: parseInt(unit.value, 10) }));
  sign.addEventListener("change", () => change({ sign: sign.value }));
  shared.addEventListener("change", () => change({ shared_scale: shared.checked }));

  function drawControls() {
    const st = model.get("attr_settings") || {};
    target.value = st.target;
    const names = model.get("class_names") || [];
    if (cls.options.length !== names.length) cls.replaceChildren(...names.map((n, i) => h("option", { value: i, text: `${i}: ${n}` })));
    cls.value = st.class;
    cls.hidden = st.target !== "class" || !names.length;
    unit.value = st.channel;
    unit.hidden = st.target !== "unit";
    sign.value = st.sign;
    shared.checked = st.shared_scale !== false;
    const all = model.get("attr_methods") || [];
    if (sanityMethod.options.length !== all.length) sanityMethod.replaceChildren(...all.map((m) => h("option", { value: m.name, text: m.label })));
    sanityMethod.value = st.sanity_method;
    const chosen = new Set(st.methods || []);
    methods.replaceChildren(...(model.get("attr_methods") || []).map((m) => {
      const box = h("input", { type: "checkbox", checked: chosen.has(m.name), onchange: () => {
        const list = (model.get("attr_methods") || []).map((x) => x.name).filter((n) => n === m.name ? box.checked : chosen.has(n));
        if (list.length) change({ methods: list }); else box.checked = true;
      } });
      return h("label", { class: "nw-control", title: m.label }, [box, m.label]);
    }));
  }

  function thumbPage(step) {
    // the buttons are disabled at either end; the kernel clamps the page as well
    model.set("thumb_page", Math.max(0, (model.get("thumb_page") || 0) + step));
    model.save_changes();
  }

  function drawStrip() {
    const th = model.get("thumbs") || {};
    const shown = (th.images || []).length;
    thumbPager.hidden = !th.n || shown >= th.n;
    thumbText.textContent = shown ? `stimuli ${th.start + 1}–${th.start + shown} of ${th.n}` : "";
    thumbPrev.disabled = !th.start;
    thumbNext.disabled = th.start + shown >= th.n;
    const current = (model.get("attr_settings") || {}).stimulus;
    strip.replaceChildren(...(th.images || []).map((img, i) => {
      const index = (th.start || 0) + i;
      return h("img", { class: `nw-thumb${index === current ? " nw-selected" : ""}`, src: pngUrl(img), alt: `stimulus ${th.ids[i]}`,
        title: `stimulus ${th.ids[i]}`, role: "option", "data-index": index, onclick: () => change({ stimulus: index }) });
    }));
  }

  function drawMaps() {
    const r = model.get("attr_result") || {};
    if (!r.maps) { maps.replaceChildren(); maps.dataset.layer = ""; return; }
    maps.dataset.layer = r.layer;
    // methods that do not apply to this layer (e.g. Grad-CAM without a spatial map) are named with the reason
    const skipped = (r.skipped || []).map((x) => h("div", { class: "nw-note", "data-method": x.method, text: `${x.label} skipped: ${x.note}` }));
    if (!r.maps.length) { maps.replaceChildren(...skipped); return; }
    maps.replaceChildren(
      h("figure", { class: "nw-map" }, [h("img", { src: pngUrl(r.input), alt: "input" }), h("figcaption", { text: `stimulus ${r.stimulus_id}` })]),
      ...r.maps.map((m) => {
        const hasDelta = m.delta !== null && m.delta !== undefined;
        const over = hasDelta && m.threshold !== null && m.threshold !== undefined && Math.abs(m.delta) > m.threshold;
        return h("figure", { class: `nw-map${over ? " nw-warn" : ""}`, "data-method": m.method }, [
          h("img", { src: pngUrl(m.image), alt: `${m.label} attribution` }),
          h("figcaption", { text: `${m.label}${hasDelta ? ` (completeness error ${(100 * m.delta).toFixed(1)}%${m.steps ? `, ${m.steps} steps` : ""})` : ""}` }),
          over ? h("div", { class: "nw-warning", role: "status", text: `⚠ above ${(100 * m.threshold).toFixed(0)}%: the map does not add up to the output change; raise n_steps or use auto_steps` }) : null]);
      }),
      // methods still computing (the path methods, many passes each) hold their place until their map comes
      ...(r.pending || []).map((label) => h("figure", { class: "nw-map nw-pending", "data-pending": label }, [
        h("div", { class: "nw-pending-box", role: "status", text: "computing…" }), h("figcaption", { text: label })])),
      h("figure", { class: "nw-map-colorbar" }, [mapColourBar(colourTables(model), r)]),
      ...skipped,
      h("div", { class: "nw-caption", text: `target: ${r.target_label}; ${r.scale === null ? "each map on its own colour scale" : `one shared colour scale for all maps, ±${fmt(r.scale)}`}${r.signed ? " (red: raises the target, blue: lowers it)" : ` (${r.sign} part)`}` }),
    );
    announce(root, "attribution", (r.pending || []).length ? "preview" : "result", { layer: r.layer });
  }

  function drawBars() {
    const c = model.get("attr_contrib") || {};
    if (!c.channels) { bars.replaceChildren(); bars.dataset.layer = ""; return; }
    bars.dataset.layer = c.layer;
    bars.replaceChildren(h("div", { class: "nw-caption", text: `target: ${c.target_label}` }),
      barChart(c.channels, c.values, { title: "channel contributions", table: colourTables(model).signed, xlabel: `contribution to ${c.target_label}`,
        ylabel: "channel", onClick: (i) => model.send({ action: "open_channel", channel: c.channels[i] }) }));
    announce(root, "contributions", "result", { layer: c.layer });
  }

  function drawSanity() {
    const sa = model.get("attr_sanity") || {};
    if (!sa.correlations) { sanityPlot.replaceChildren(); return; }
    sanityPlot.replaceChildren(h("div", { class: "nw-caption", text: `${sa.method}: rank correlation with the original map as layers are randomised from the top (a faithful map falls)` }),
      linePlot(sa.correlations, { xlabel: "randomised down to block", ylabel: "Spearman ρ with original", xlabels: sa.steps, width: 340, height: 200 }));
  }

  function update(changed) {
    const all = !changed;
    if (all || changed.some((c) => ["attr_settings", "attr_methods", "class_names"].includes(c))) drawControls();
    if (all || changed.some((c) => c === "thumbs" || c === "attr_settings")) drawStrip();
    if (all || changed.includes("attr_result")) drawMaps();
    if (all || changed.includes("attr_contrib")) drawBars();
    if (all || changed.includes("attr_sanity")) drawSanity();
    status.update(); contribStatus.update(); sanityStatus.update(); code.update(); contribCode.update(); sanityCode.update();
    mapsFigure.update(); contribFigure.update(); sanityFigure.update();
  }
  update();
  return { el, update, traits: ["attr_settings", "attr_methods", "class_names", "thumbs", "attr_result", "attr_contrib", "attr_sanity", "jobs", "code", "figures"] };
}
