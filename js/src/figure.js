// "Save figure": per panel, PNG and SVG buttons that ask the kernel for the publication figure of what the
// panel shows (its result's .plot(), drawn by matplotlib) and download the file the kernel sends back.
import { h, announce } from "./dom.js";
import { bytesOf } from "./codec.js";

/** Offer `bytes` as a download named `filename` (an <a download> click on an object URL). */
export function download(bytes, filename, mime) {
  const url = URL.createObjectURL(new Blob([bytesOf(bytes)], { type: mime }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The buttons of one panel; shown while the kernel has a figure for it (trait `figures`). Only the view
 * whose button was clicked listens for the reply, and only until it came (a widget shown twice must not save
 * twice; a closed view leaves no listener behind). */
export function saveFigure(model, panel, root) {
  const pending = new Set();
  const ask = (format) => {
    if (!pending.size) model.on("msg:custom", onMsg);
    pending.add(format);
    model.send({ action: "save_figure", panel, format });
  };
  const el = h("div", { class: "nw-save-figure", "data-figure": panel }, [
    h("span", { class: "nw-caption", text: "save figure" }),
    h("button", { class: "nw-button", text: "PNG", "data-format": "png", title: "Download this panel's figure as PNG (300 dpi)", onclick: () => ask("png") }),
    h("button", { class: "nw-button", text: "SVG", "data-format": "svg", title: "Download this panel's figure as SVG (editable text)", onclick: () => ask("svg") }),
  ]);
  const onMsg = (msg, buffers) => {
    const fig = msg && msg.figure;
    if (!fig || fig.panel !== panel || !pending.has(fig.format) || !buffers || !buffers.length) return;
    pending.delete(fig.format);
    if (!pending.size) model.off("msg:custom", onMsg);
    download(buffers[0], fig.filename, fig.mime);
    announce(root, panel, "figure", { format: fig.format, filename: fig.filename, bytes: bytesOf(buffers[0]).byteLength });
  };
  function update() {
    el.hidden = !(model.get("figures") || {})[panel];
  }
  update();
  return { el, update };
}
