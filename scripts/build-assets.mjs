// Builds the front-end assets from the packages `npm ci` installed (package-lock.json) into
// platform/tsunagu/web/static/dist/ (gitignored). Run by `make install` when the lock file, this script or a
// source under frontend/ changes, and by the Dockerfile's assets stage (`npm run build`).
//
// 1. Copies the prebuilt files the pages load as they are: htmx and the bpmn-js viewer (case workspace).
// 2. Bundles the designers (frontend/designer/*.js) with esbuild: one JS and one CSS file per designer, fonts
//    next to them; and the task forms' conditions (frontend/forms/conditions.js, with @bpmn-io/feelin). Nothing is loaded from another origin at run time, and the bundles run under the app's CSP
//    (no eval, no injected <style>): the build fails if a bundle contains `eval(` or `new Function(`.
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const modules = join(root, "node_modules");
const out = join(root, "platform", "tsunagu", "web", "static", "dist");

const copies = [
  ["htmx.org/dist/htmx.min.js", "htmx.min.js"],
  ["bpmn-js/dist/bpmn-navigated-viewer.production.min.js", "bpmn-js/bpmn-navigated-viewer.production.min.js"],
  ["bpmn-js/dist/assets/diagram-js.css", "bpmn-js/diagram-js.css"],
  ["bpmn-js/dist/assets/bpmn-js.css", "bpmn-js/bpmn-js.css"],
  ["bpmn-js/dist/assets/bpmn-font", "bpmn-js/bpmn-font"],
  // the meeting calendar (meetings/pages.py): FullCalendar's standard bundle and its Japanese locale
  ["fullcalendar/index.global.min.js", "fullcalendar/index.global.min.js"],
  ["@fullcalendar/core/locales/ja.global.min.js", "fullcalendar/ja.global.min.js"],
  ["../frontend/meetings/calendar.js", "meetings/calendar.js"],
  // The reports dashboard (reports/pages.py): Apache ECharts' prebuilt bundle, its licence, our chart script
  ["echarts/dist/echarts.min.js", "echarts/echarts.min.js"],
  ["echarts/LICENSE", "echarts/LICENSE"],
  ["../frontend/reports/dashboard.js", "reports/dashboard.js"],
  ["../frontend/reports/dashboard.css", "reports/dashboard.css"],
  // The API reference page (/t/<slug>/api/docs): Swagger UI renders the generated openapi.json.
  ["swagger-ui-dist/swagger-ui-bundle.js", "swagger-ui/swagger-ui-bundle.js"],
  ["swagger-ui-dist/swagger-ui.css", "swagger-ui/swagger-ui.css"],
  ["swagger-ui-dist/LICENSE", "swagger-ui/LICENSE"],
];

// The designers: frontend/designer/<name>.js → dist/designer/<name>.js (+ .css).
const designers = ["bpmn-designer", "dmn-designer", "form-designer"];

rmSync(out, { recursive: true, force: true });
for (const [from, to] of copies) {
  const source = join(modules, from);
  if (!existsSync(source)) {
    console.error(`build-assets: ${from} is missing; run npm ci first`);
    process.exit(1);
  }
  const target = join(out, to);
  mkdirSync(dirname(target), { recursive: true });
  cpSync(source, target, { recursive: true });
}

const esbuild = await import("esbuild");
const common = {
  absWorkingDir: root,
  outdir: join(out, "designer"),
  bundle: true,
  format: "iife",
  target: ["es2020"],
  minify: true,
  sourcemap: "linked",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
  jsx: "automatic",
  loader: { ".woff": "file", ".woff2": "file", ".eot": "file", ".ttf": "file", ".svg": "file", ".png": "file" },
  assetNames: "assets/[name]-[hash]",
  define: { "process.env.NODE_ENV": '"production"' },
};
const entry = (name) => ({ [name]: join(root, "frontend", "designer", `${name}.js`) });
// bpmn-js-properties-panel renders with the Preact copy inside @bpmn-io/properties-panel: our entries' JSX
// uses that copy, so hooks and contexts are shared with the panel they render into.
const panelPreact = { jsxImportSource: "@bpmn-io/properties-panel/preact" };
// form-js-editor pins an older Preact than form-js-viewer resolves to; one copy (the editor's) for the whole
// form bundle, or the editor cannot render the viewer's fields.
const editorPreact = dirname(createRequire(join(modules, "@bpmn-io/form-js-editor/package.json")).resolve("preact/package.json"));
const builds = await Promise.all([
  esbuild.build({ ...common, ...panelPreact, entryPoints: { ...entry("bpmn-designer"), ...entry("dmn-designer") } }),
  esbuild.build({ ...common, entryPoints: entry("form-designer"), jsxImportSource: "preact", alias: { preact: editorPreact } }),
  // form-js `conditional.hide` on the task page: FEEL evaluated live with feelin (the interpreter form-js uses)
  esbuild.build({
    ...common,
    outdir: join(out, "forms"),
    entryPoints: { conditions: join(root, "frontend", "forms", "conditions.js") },
  }),
]);
const outputs = Object.assign({}, ...builds.map((b) => b.metafile.outputs));

// Known, unreachable uses: dom-iterator (inside selection-ranges, used by dmn-js's cell editing) compiles a
// *string* filter with new Function, and dmn-js only ever passes functions. The browser tests fail on any CSP
// violation at run time, so this list can only hide dead code.
const KNOWN_DEAD = ['new Function("node","Object.freeze(node); return "'];

let problems = 0;
const sizes = [];
for (const file of Object.keys(outputs)) {
  if (!file.endsWith(".js") && !file.endsWith(".css")) continue;
  const text = readFileSync(resolve(root, file), "utf8");
  const checked = KNOWN_DEAD.reduce((rest, snippet) => rest.split(snippet).join(""), text);
  if (file.endsWith(".js") && /\beval\(|new Function\(/.test(checked)) {
    console.error(`build-assets: ${file} contains eval or new Function; the CSP would refuse it`);
    problems += 1;
  }
  sizes.push(`${relative(out, resolve(root, file))} ${(statSync(resolve(root, file)).size / 1024).toFixed(0)} KiB`);
}
if (problems) process.exit(1);

writeFileSync(join(out, ".built"), new Date().toISOString() + "\n");
console.log(`build-assets: ${copies.length} assets copied, ${designers.length} designers bundled in ${out}`);
for (const line of sizes.sort()) console.log(`  ${line}`);

