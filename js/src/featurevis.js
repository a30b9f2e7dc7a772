// Optimal stimuli: the paged contact sheet (images appear while they optimise) and one channel in detail.
import { h, fmt, announce } from "./dom.js";
import { pngUrl } from "./codec.js";
import { linePlot } from "./plots.js";
import { statusLine, codeBox } from "./status.js";
import { saveFigure } from "./figure.js";

/** The large channel view's size on screen (CSS px); smaller renders are upsampled smoothly by the browser. */
export const LARGE_PX = 224;

function numberInput(label, key, model, attrs = {}) {
  const input = h("input", { type: "number", class: "nw-input", "data-setting": key, ...attrs });
  return { input, el: h("label", { class: "nw-control" }, [label, input]) };
}

export function featurevisPanel(model, root) {
  const controls = {
    steps: numberInput("steps", "steps", model, { min: 1, max: 4096 }),
    image_size: numberInput("size", "image_size", model, { min: 8, max: 512, placeholder: "model" }),
    seed: numberInput("seed", "seed", model, { min: 0 }),
  };
  const param = h("select", { class: "nw-input", "data-setting": "param" }, (model.get("fv_params") || []).map((p) => h("option", { value: p.name, text: p.label })));
  const transforms = h("input", { type: "checkbox", "data-setting": "transforms" });
  const run = h("button", { class: "nw-button nw-primary", text: "Render", onclick: () => {
    const next = { ...model.get("fv_settings") };
    for (const [k, c] of Object.entries(controls)) { const v = parseInt(c.input.value, 10); next[k] = Number.isFinite(v) ? v : (k === "image_size" ? null : next[k]); }
    next.param = param.value;
    next.transforms = transforms.checked;
    model.set("fv_settings", next);
    model.save_changes();
    model.send({ action: "run_featurevis" });
  } });
  const prev = h("button", { class: "nw-button", text: "◀", title: "previous page", onclick: () => page(-1) });
  const next = h("button", { class: "nw-button", text: "▶", title: "next page", onclick: () => page(1) });
  const pageText = h("span", { class: "nw-page" });
  const sheet = h("div", { class: "nw-sheet", role: "grid", "aria-label": "optimal stimuli, one per channel" });
  const detail = h("div", { class: "nw-detail" });
  const status = statusLine(model, "featurevis", root);
  const detailStatus = statusLine(model, "featurevis_detail", root);
  const code = codeBox(model, "featurevis");
  const detailCode = codeBox(model, "featurevis_detail");
  const sheetFigure = saveFigure(model, "featurevis", root);
  const detailFigure = saveFigure(model, "featurevis_detail", root);
  const el = h("section", { class: "nw-panel nw-featurevis", "data-panel": "featurevis" }, [
    h("div", { class: "nw-controls" }, [controls.steps.el, controls.image_size.el, h("label", { class: "nw-control" }, ["image", param]),
      h("label", { class: "nw-control" }, [transforms, "transforms"]), controls.seed.el, run]),
    status.el, h("div", { class: "nw-pager" }, [prev, pageText, next]), sheet, h("div", { class: "nw-panel-tools" }, [code.el, sheetFigure.el]),
    h("div", { class: "nw-detail-wrap" }, [detailStatus.el, detail, h("div", { class: "nw-panel-tools" }, [detailCode.el, detailFigure.el])]),
  ]);

  function page(step) {
    const sh = model.get("fv_sheet") || {};
    const p = Math.min(Math.max(0, (sh.page || 0) + step), Math.max(0, (sh.n_pages || 1) - 1));
    model.set("fv_page", p);
    model.save_changes();
  }

  function drawSettings() {
    const st = model.get("fv_settings") || {};
    for (const [k, c] of Object.entries(controls)) c.input.value = st[k] === null || st[k] === undefined ? "" : st[k];
    param.value = st.param;
    transforms.checked = !!st.transforms;
  }

  function drawSheet() {
    const sh = model.get("fv_sheet") || {};
    const images = sh.images || [];
    const channels = sh.channels || [];
    const selected = model.get("fv_channel");
    pageText.textContent = sh.n_channels ? `channels ${channels[0]}–${channels[channels.length - 1]} of ${sh.n_channels} (page ${sh.page + 1}/${sh.n_pages})` : "";
    prev.disabled = !sh.page;
    next.disabled = !sh.n_pages || sh.page >= sh.n_pages - 1;
    sheet.replaceChildren(...channels.map((ch, i) => {
      const img = images[i] ? h("img", { src: pngUrl(images[i]), alt: `channel ${ch}`, draggable: "false" }) : h("div", { class: "nw-placeholder" });
      const value = sh.values && sh.values[i] !== undefined ? fmt(sh.values[i]) : "";
      return h("button", { class: `nw-tile${ch === selected ? " nw-selected" : ""}`, "data-channel": ch, title: `channel ${ch}${value ? `, activation ${value}` : ""}`,
        onclick: () => model.send({ action: "open_channel", channel: ch }) }, [img, h("span", { class: "nw-tile-label", text: `${ch}` })]);
    }));
    sheet.dataset.layer = sh.layer || "";
    sheet.dataset.final = sh.final ? "true" : "false";
    if (images.length) announce(root, "featurevis", sh.final ? "result" : "preview", { layer: sh.layer, count: images.length });
  }

  function examples(title, rows) {
    return h("div", { class: "nw-examples" }, [h("div", { class: "nw-subtitle", text: title }),
      h("div", { class: "nw-strip" }, rows.map((r) => h("figure", { class: "nw-example", title: `stimulus ${r.id}: ${fmt(r.value)}` },
        [h("img", { src: pngUrl(r.image), alt: `stimulus ${r.id}` }), h("figcaption", { text: fmt(r.value) })])))]);
  }

  function drawDetail() {
    const d = model.get("fv_detail") || {};
    if (d.channel === undefined) { detail.replaceChildren(); detail.dataset.channel = ""; return; }
    detail.dataset.channel = d.channel;
    const px = d.size ? Math.max(...d.size) : LARGE_PX;
    const scaleNote = d.image && px < LARGE_PX ? `rendered at ${d.size.join("×")} px, shown ${(LARGE_PX / px).toFixed(px * 2 > LARGE_PX ? 1 : 0)}× larger, smoothed` : "";
    const image = d.image
      ? h("img", { class: "nw-large", src: pngUrl(d.image), alt: `optimal stimulus of ${d.layer} channel ${d.channel}`, "data-px": px })
      : h("div", { class: "nw-large nw-placeholder", text: "optimal stimulus: rendering…" });
    detail.replaceChildren(
      h("div", { class: "nw-detail-main" }, [
        h("figure", {}, [image,
          h("figcaption", { text: `${d.description}${d.value !== null && d.value !== undefined ? ` = ${fmt(d.value)}` : ""}` }),
          scaleNote ? h("figcaption", { class: "nw-caption nw-scale-note", text: scaleNote }) : null]),
        d.curve && d.curve.length ? h("figure", {}, [linePlot(d.curve, { xlabel: "optimisation step", ylabel: "objective", label: "objective over steps" })]) : null,
      ]),
      d.top && d.top.length ? examples("dataset examples: strongest (receptive-field crops)", d.top) : null,
      d.bottom && d.bottom.length ? examples("weakest", d.bottom) : null,
    );
    if (d.top && d.top.length) announce(root, "featurevis_detail", "examples", { layer: d.layer, channel: d.channel });
    if (d.image) announce(root, "featurevis_detail", "result", { layer: d.layer, channel: d.channel });
  }

  function update(changed) {
    if (!changed || changed.includes("fv_settings")) drawSettings();
    if (!changed || changed.some((c) => c === "fv_sheet" || c === "fv_channel")) drawSheet();
    if (!changed || changed.includes("fv_detail")) drawDetail();
    status.update(); detailStatus.update(); code.update(); detailCode.update(); sheetFigure.update(); detailFigure.update();
  }
  update();
  return { el, update, traits: ["fv_settings", "fv_sheet", "fv_channel", "fv_detail", "jobs", "code", "figures"] };
}
