// neuro_widgets front end: one anywidget module drawing whichever panels the kernel lists in `_panels`.
import { h, listen, announce } from "./dom.js";
import { treePanel } from "./tree.js";
import { featurevisPanel } from "./featurevis.js";
import { attributionPanel } from "./attribution.js";
import { alignmentPanel } from "./alignment.js";
import { rdmPanel } from "./rdm.js";
import { neuronsPanel } from "./neurons.js";
import { physiologyPanel } from "./physiology.js";
import { studyPanel } from "./study.js";
import { statusLine } from "./status.js";

const BUILDERS = { featurevis: featurevisPanel, attribution: attributionPanel, alignment: alignmentPanel, rdm: rdmPanel, neurons: neuronsPanel, physiology: physiologyPanel, study: studyPanel };
const TITLES = { featurevis: "Optimal stimuli", attribution: "Attributions", alignment: "Brain alignment", rdm: "RDMs", neurons: "Neurons", physiology: "Physiology", study: "Study" };
// in tabs, the RDM viewer sits under the alignment panel
const TAB_OF = { featurevis: "featurevis", attribution: "attribution", alignment: "alignment", rdm: "alignment", neurons: "neurons", physiology: "physiology", study: "study" };

function render({ model, el }) {
  const names = model.get("_panels") || [];
  const root = h("div", { class: "nw-root" });
  const cleanups = [];
  const panels = {};
  for (const name of names) {
    if (!BUILDERS[name]) continue;
    panels[name] = BUILDERS[name](model, root);
    for (const trait of panels[name].traits) cleanups.push(listen(model, [trait], () => { panels[name].update([trait]); markStale(); }));
  }
  let tree = null;
  if (names.includes("tree")) {
    tree = treePanel(model, root);
    cleanups.push(listen(model, ["layers", "selected_layer"], () => tree.update()));
  }

  // errors that concern no one panel (e.g. a malformed message from this front end) show under the header
  const widgetStatus = statusLine(model, "widget", root);
  cleanups.push(listen(model, ["jobs"], () => widgetStatus.update()));
  const title = h("div", { class: "nw-title" });
  const selected = h("span", { class: "nw-selected-layer" });
  const arrangeBtn = h("button", { class: "nw-button", onclick: () => { model.set("arrangement", model.get("arrangement") === "tabs" ? "stacked" : "tabs"); model.save_changes(); } });
  const tabBar = h("div", { class: "nw-tabs", role: "tablist" });
  const body = h("div", { class: "nw-body" });
  const main = h("div", { class: "nw-main" }, [tabBar, body]);
  const multi = Object.keys(panels).length > 1;
  root.append(h("div", { class: "nw-header" }, [title, selected, multi ? arrangeBtn : null]), widgetStatus.el,
    h("div", { class: `nw-columns${tree ? "" : " nw-no-tree"}` }, [tree ? tree.el : null, Object.keys(panels).length ? main : null]));

  function arrange() {
    const arrangement = model.get("arrangement");
    const tabs = [...new Set(Object.keys(panels).map((p) => TAB_OF[p]))];
    let active = model.get("active_tab");
    if (!tabs.includes(active)) active = tabs[0];
    arrangeBtn.textContent = arrangement === "tabs" ? "Stack panels" : "Use tabs";
    tabBar.hidden = arrangement !== "tabs" || tabs.length < 2;
    tabBar.replaceChildren(...tabs.map((t) => h("button", { class: `nw-tab${t === active ? " nw-active" : ""}`, role: "tab", "data-tab": t,
      "aria-selected": t === active ? "true" : "false", text: TITLES[t], onclick: () => { model.set("active_tab", t); model.save_changes(); } })));
    body.replaceChildren(...Object.entries(panels).filter(([p]) => arrangement !== "tabs" || TAB_OF[p] === active).map(([p, panel]) =>
      arrangement === "tabs" ? panel.el : h("div", { class: "nw-stack-item" }, [h("h3", { class: "nw-stack-title", text: TITLES[p] }), panel.el])));
  }
  function header() {
    title.textContent = model.get("title");
    const layer = model.get("selected_layer");
    selected.textContent = layer ? `layer: ${layer}` : (tree ? "click a layer" : "");
  }
  /** A result of another layer than the selected one is faded (the kernel clears them on a click as well). */
  function markStale() {
    const layer = model.get("selected_layer");
    for (const node of body.querySelectorAll("[data-layer]:not(.nw-point)")) {
      node.classList.toggle("nw-stale", Boolean(node.dataset.layer) && node.dataset.layer !== layer);
    }
  }
  arrange(); header(); markStale();
  // the latency floor: {action: "ping"} is answered at once by the kernel with {pong}
  const onMsg = (msg) => { if (msg && "pong" in msg) announce(root, "widget", "pong", { token: msg.pong }); };
  model.on("msg:custom", onMsg);
  root.nwPing = (token) => model.send({ action: "ping", token });
  cleanups.push(() => model.off("msg:custom", onMsg));
  cleanups.push(listen(model, ["arrangement", "active_tab"], arrange), listen(model, ["selected_layer", "title"], header),
    listen(model, ["selected_layer"], markStale));
  el.classList.add("nw-widget");
  el.replaceChildren(root);
  return () => cleanups.forEach((c) => c());
}

export default { render };
