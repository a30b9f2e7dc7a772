// The layer tree: collapsible by module path, with type, output shape and parameter count; a filter box;
// keyboard navigation (up/down, left/right to collapse/expand, Enter to select). Selection goes to the
// kernel through the `selected_layer` trait.
import { h, fmt, announce } from "./dom.js";

/** Rows in forward order, each with its parent's name (the nearest listed prefix). */
export function buildTree(layers) {
  const names = new Set(layers.map((l) => l.name));
  return layers.map((l) => {
    const parts = l.name.split(".");
    let parent = "";
    for (let i = parts.length - 1; i > 0; i--) {
      const candidate = parts.slice(0, i).join(".");
      if (names.has(candidate)) { parent = candidate; break; }
    }
    return { ...l, parent, children: 0 };
  }).map((row, _, rows) => ({ ...row, children: rows.filter((r) => r.parent === row.name).length }));
}

/** A row's name: the last part of its path in the tree (its block is the row above), the whole dotted path
 * (block path dimmed) in a filtered list, where the rows lose their parents. */
export function layerName(name, filtered) {
  const parts = name.split(".");
  const last = parts.pop();
  if (!filtered || !parts.length) return h("span", { class: "nw-layer-name", text: last });
  return h("span", { class: "nw-layer-name", title: name }, [h("span", { class: "nw-layer-path", text: `${parts.join(".")}.` }), last]);
}

export function shapeText(shape) {
  return shape ? shape.join("×") : "–";
}

/** The tree panel; returns {el, update}. */
export function treePanel(model, root) {
  const filter = h("input", { class: "nw-filter", type: "search", placeholder: "filter layers (name or type)", "aria-label": "filter layers" });
  const list = h("div", { class: "nw-tree", role: "tree", tabindex: "0", "aria-label": "model layers" });
  const el = h("div", { class: "nw-tree-panel" }, [filter, list]);
  const collapsed = new Set();
  let rows = [];
  let focus = "";
  let initialised = false;

  function visible() {
    const q = filter.value.trim().toLowerCase();
    if (q) return rows.filter((r) => r.name.toLowerCase().includes(q) || r.type.toLowerCase().includes(q));
    const hidden = (r) => { for (let p = r.parent; p; p = rows.find((x) => x.name === p)?.parent || "") if (collapsed.has(p)) return true; return false; };
    return rows.filter((r) => !hidden(r));
  }

  function select(name) {
    focus = name;
    model.set("selected_layer", name);
    model.save_changes();
    draw();
    announce(root, "tree", "select", { layer: name });
  }

  function draw() {
    const selected = model.get("selected_layer");
    const filtered = Boolean(filter.value.trim());
    list.replaceChildren(...visible().map((r) => {
      const depth = filtered ? 0 : r.name.split(".").length - 1;
      const twisty = r.children && !filtered
        ? h("span", { class: "nw-twisty", text: collapsed.has(r.name) ? "▸" : "▾",
            onclick: (e) => { e.stopPropagation(); collapsed.has(r.name) ? collapsed.delete(r.name) : collapsed.add(r.name); draw(); } })
        : h("span", { class: "nw-twisty" });
      return h("div", {
        class: `nw-tree-row${r.name === selected ? " nw-selected" : ""}${r.name === focus ? " nw-focus" : ""}`,
        role: "treeitem", "aria-selected": r.name === selected ? "true" : "false", "data-layer": r.name,
        style: { paddingLeft: `${4 + depth * 14}px` }, title: `${r.name} (${r.type})${r.calls > 1 ? `, runs ${r.calls}× per forward` : ""}`,
        onclick: () => select(r.name),
      }, [twisty, layerName(r.name, filtered),
        h("span", { class: "nw-layer-type", text: r.type }),
        h("span", { class: "nw-layer-shape", text: shapeText(r.shape) }),
        h("span", { class: "nw-layer-params", text: r.params ? fmt(r.params) : "" })]);
    }));
  }

  list.addEventListener("keydown", (e) => {
    const vis = visible();
    if (!vis.length) return;
    let i = vis.findIndex((r) => r.name === (focus || model.get("selected_layer")));
    const row = vis[i];
    if (e.key === "ArrowDown") i = Math.min(vis.length - 1, i + 1);
    else if (e.key === "ArrowUp") i = Math.max(0, i - 1);
    else if (e.key === "ArrowLeft" && row) { if (row.children && !collapsed.has(row.name)) collapsed.add(row.name); else if (row.parent) focus = row.parent; draw(); e.preventDefault(); return; }
    else if (e.key === "ArrowRight" && row) { collapsed.delete(row.name); draw(); e.preventDefault(); return; }
    else if (e.key === "Enter" || e.key === " ") { if (row) select(row.name); e.preventDefault(); return; }
    else return;
    e.preventDefault();
    focus = vis[Math.max(0, i)].name;
    draw();
    list.querySelector(".nw-focus")?.scrollIntoView({ block: "nearest" });
  });
  filter.addEventListener("input", draw);

  function update() {
    rows = buildTree(model.get("layers") || []);
    if (!initialised && rows.length) {
      initialised = true;
      // start with the blocks open and their insides collapsed (deep models stay readable)
      for (const r of rows) if (r.children && r.name.split(".").length >= 2) collapsed.add(r.name);
    }
    draw();
  }
  update();
  return { el, update };
}
