// A study: one progress bar (tasks done / total, failures, cancel), the metric / variant / region choice, and a
// table of (model, data set) rows whose cells are the layers' scores in forward order; the held-out best layer
// is outlined, and a click on a cell asks the kernel to open a LayerExplorer of that model, data set and layer.
import { h, fmt, announce } from "./dom.js";
import { statusLine } from "./status.js";

/** Background colour of a score cell: white at the row's minimum, blue at its maximum. */
export function cellColour(score, lo, hi) {
  if (score === null || score === undefined) return "#eee";
  const f = hi > lo ? (score - lo) / (hi - lo) : 1;
  const mix = (a, b) => Math.round(a + (b - a) * f);
  return `rgb(${mix(255, 0)}, ${mix(255, 114)}, ${mix(255, 178)})`;
}

function choice(label, options, value, onchange) {
  const select = h("select", { class: "nw-study-choice", "aria-label": label, onchange: (e) => onchange(e.target.value) },
    options.map(([v, text]) => h("option", { value: v, selected: v === value, text })));
  return h("label", {}, [`${label} `, select]);
}

export function studyPanel(model, root) {
  const status = statusLine(model, "study", root);
  const controls = h("div", { class: "nw-study-controls" });
  const table = h("table", { class: "nw-study-table" });
  const el = h("div", { class: "nw-panel nw-study" }, [status.el, controls, table]);

  function setView(key, value) {
    model.set("study_view", { ...(model.get("study_view") || {}), [key]: value });
    model.save_changes();
  }

  function drawControls(data) {
    const view = model.get("study_view") || {};
    controls.replaceChildren(
      choice("metric", (data.metrics || []).map((m) => [m, m]), view.metric, (v) => setView("metric", v)),
      choice("model", [["trained", "trained"], ["random", "random control"]], view.variant, (v) => setView("variant", v)),
      choice("region", [["", "first of each"], ...(data.regions || []).map((r) => [r, r])], view.region || "", (v) => setView("region", v)));
  }

  function drawTable(data) {
    const open = model.get("study_open") || {};
    const rows = (data.rows || []).map((row) => {
      const head = [h("th", { scope: "row", text: row.model }), h("th", { scope: "row", text: row.data })];
      if (row.status !== "done") {
        return h("tr", { class: "nw-study-row nw-study-failed", "data-model": row.model, "data-data": row.data },
          [...head, h("td", { class: "nw-error", text: row.status === "failed" ? `failed: ${row.error}` : "not computed" })]);
      }
      const vals = row.scores.filter((v) => v !== null);
      const lo = Math.min(...vals), hi = Math.max(...vals);
      const cells = row.layers.map((layer, i) => {
        const isOpen = open.model === row.model && open.data === row.data && open.layer === layer;
        const ci = row.ci && row.ci[i] ? ` [${fmt(row.ci[i][0])}, ${fmt(row.ci[i][1])}]` : "";
        return h("button", {
          class: `nw-study-cell${layer === row.best ? " nw-study-best" : ""}${isOpen ? " nw-active" : ""}`,
          "data-layer": layer, style: { background: cellColour(row.scores[i], lo, hi) },
          title: `${layer}: ${fmt(row.scores[i])}${ci}${layer === row.best ? " (held-out best)" : ""} — click to explore`,
          onclick: () => model.send({ action: "open", model: row.model, data: row.data, layer }),
        });
      });
      return h("tr", { class: "nw-study-row", "data-model": row.model, "data-data": row.data },
        [...head, h("td", { class: "nw-study-best-name", text: row.best }), h("td", { class: "nw-study-cells" }, cells)]);
    });
    table.replaceChildren(h("thead", {}, h("tr", {}, ["model", "data set", "best layer", "layers (forward order)"].map((t) => h("th", { text: t })))),
      h("tbody", {}, rows));
  }

  function update() {
    status.update();
    const data = model.get("study_table") || {};
    drawControls(data);
    drawTable(data);
    if ((data.rows || []).length) announce(root, "study", "table", { rows: data.rows.length });
  }
  update();
  return { el, traits: ["jobs", "study_table", "study_view", "study_open"], update };
}
