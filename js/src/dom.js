// Small DOM helpers shared by the panels.

/** Create an element: h("div", {class: "x", onclick: fn}, [children | text]). */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an SVG element with attributes. */
export function s(tag, attrs = {}, children = []) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, String(value));
  }
  for (const child of [].concat(children)) if (child) el.append(child);
  return el;
}

/** Format a number compactly (3 significant digits; thousands separators for integers). */
export function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  return Number(x).toPrecision(digits);
}

/** Tell listeners (tests, the timing benchmark) that a panel rendered something. */
export function announce(root, panel, kind, detail = {}) {
  root.dispatchEvent(new CustomEvent("nw-render", {
    bubbles: true, detail: { panel, kind, t: performance.now(), ...detail },
  }));
}

/** Listen to model changes of several traits; returns an unsubscribe function. */
export function listen(model, names, callback) {
  for (const name of names) model.on(`change:${name}`, callback);
  return () => { for (const name of names) model.off(`change:${name}`, callback); };
}
