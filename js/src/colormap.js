// Colour-blind-safe maps: viridis (sequential, for RDMs) and the Okabe–Ito palette (categorical lines/bars).

// viridis, 9 anchor colours; interpolated linearly.
const VIRIDIS = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

/** viridis(t) for t in [0, 1] -> [r, g, b]. */
export function viridis(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
}

/** Okabe–Ito colours, distinguishable with the common colour-vision deficiencies. */
export const OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

/** Positive / negative for signed bars: blue and orange (never red/green). */
export const POSITIVE = "#0072B2";
export const NEGATIVE = "#E69F00";
