// Copies the front-end assets installed by `npm ci` (htmx, the bpmn-js viewer and its CSS/fonts) into
// platform/tsunagu/web/static/dist/, which is gitignored. Run by `make install` when package-lock.json changes.
import { cpSync, mkdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
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
];

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
writeFileSync(join(out, ".built"), new Date().toISOString() + "\n");
console.log(`build-assets: ${copies.length} assets copied to ${out}`);
