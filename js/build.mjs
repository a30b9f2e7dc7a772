// Bundle the front end into ../neuro_widgets/static/ (one ES module + one stylesheet, no CDN imports).
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

const out = new URL("../neuro_widgets/static/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/index.js"], bundle: true, format: "esm", target: "es2020", minify: true,
  sourcemap: false, outfile: `${out}widget.js`, logLevel: "warning",
});
copyFileSync("src/widget.css", `${out}widget.css`);
console.log(`built ${out}widget.js`);
