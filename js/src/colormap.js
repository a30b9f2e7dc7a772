// Colours. The colour maps come from the kernel (the `colormaps` trait: matplotlib's maps sampled to 256 RGB
// entries, the same ones the publication figures and the attribution PNGs use), so nothing here re-defines
// a colour map. Signed values (maps and bars) use the "signed" diverging table, magnitudes the "unsigned" one.
import { bytesOf } from "./codec.js";

/** A 256-entry colour table: {name, at(t) -> [r, g, b] for t in [0, 1], css(t) -> "rgb(...)"}. */
export function colourTable(entry) {
  const bytes = bytesOf(entry.table);
  if (bytes.length !== 768) throw new RangeError(`a colour table has 256 RGB entries (768 bytes), got ${bytes.length}`);
  // the kernel's indexing (engine/attribution/display.py): round(t * 255)
  const at = (t) => {
    const k = 3 * Math.round(Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * 255);
    return [bytes[k], bytes[k + 1], bytes[k + 2]];
  };
  return { name: entry.name, at, css: (t) => `rgb(${at(t).join(",")})` };
}

/** Position of a signed value on the diverging table: -scale -> 0, 0 -> 0.5, +scale -> 1. */
export function signedPosition(value, scale) {
  return scale > 0 ? 0.5 + 0.5 * Math.max(-1, Math.min(1, value / scale)) : 0.5;
}

const parsed = new WeakMap();

/** {signed, unsigned} colour tables of a model's `colormaps` trait (parsed once per value). */
export function colourTables(model) {
  const value = model.get("colormaps");
  if (!value || !value.signed || !value.unsigned) throw new Error("the kernel sent no colour tables (trait `colormaps`)");
  if (!parsed.has(value)) parsed.set(value, { signed: colourTable(value.signed), unsigned: colourTable(value.unsigned) });
  return parsed.get(value);
}

/** Okabe–Ito colours for categories (lines, regions), distinguishable with the common colour-vision deficiencies. */
export const OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

/** Line and histogram colours of the one-series plots (not a colour map: signed values use the signed table). */
export const POSITIVE = "#0072B2";
export const NEGATIVE = "#E69F00";
