// Visual diff of the draft against the deployed version (bpmn-js-differ): two viewers side by side, the
// deployed one marking removed and changed elements, the draft marking added and changed ones, with a
// legend (in the page) and a list of every change.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import { diff } from "bpmn-js-differ";

import { t } from "../common.js";

const KINDS = {
  added: { marker: "diff-added", label: () => t("追加", "Added") },
  removed: { marker: "diff-removed", label: () => t("削除", "Removed") },
  changed: { marker: "diff-changed", label: () => t("変更", "Changed") },
  layout: { marker: "diff-layout", label: () => t("移動のみ", "Moved only") },
};

async function definitionsOf(moddle, xml) {
  const { rootElement } = await moddle.fromXML(xml);
  return rootElement;
}

function describe(entry) {
  const model = entry.model || entry;
  return `${model.name || ""} (${(model.$type || "").replace("bpmn:", "")})`.trim();
}

function shown(value) {
  if (value === undefined || value === null) return "—";
  return typeof value === "string" ? value.replace(/^#ref:/, "") : JSON.stringify(value);
}

function details(entry) {
  if (!entry.attrs) return "";
  // bpmn-js-differ 3.2 hands diffpatch's [old, new] pair on as (newValue, oldValue): read them crosswise.
  return Object.entries(entry.attrs)
    .map(([name, change]) => `${name}: ${shown(change.newValue)} → ${shown(change.oldValue)}`)
    .join("; ");
}

/** Fit the viewer, then zoom in on the marked elements when the whole diagram is too small to read. */
function focus(viewer, ids) {
  const canvas = viewer.get("canvas");
  canvas.zoom("fit-viewport");
  const registry = viewer.get("elementRegistry");
  const points = ids
    .map((id) => registry.get(id))
    .filter(Boolean)
    .flatMap((e) => (e.waypoints ? e.waypoints : [{ x: e.x, y: e.y }]));
  if (!points.length || canvas.zoom() >= 0.7) return;
  const x = Math.min(...points.map((p) => p.x));
  const y = Math.min(...points.map((p) => p.y));
  const outer = canvas.viewbox().outer;
  const scale = 0.8;
  canvas.viewbox({ x: x - outer.width / scale / 4, y: y - outer.height / scale / 3, width: outer.width / scale, height: outer.height / scale });
}

export class DiffView {
  /** ``moddle``: the modeler's (it knows the spiffworkflow extension). */
  constructor(section, moddle) {
    this._section = section;
    this._moddle = moddle;
    this._before = new NavigatedViewer({ container: section.querySelector("#diff-before") });
    this._after = new NavigatedViewer({ container: section.querySelector("#diff-after") });
  }

  /** Show the changes from ``deployedXml`` to ``draftXml``; returns them grouped by kind. */
  async show(deployedXml, draftXml) {
    this._section.hidden = false;
    await this._before.importXML(deployedXml);
    await this._after.importXML(draftXml);
    const changes = diff(await definitionsOf(this._moddle, deployedXml), await definitionsOf(this._moddle, draftXml));
    const grouped = {
      added: Object.values(changes._added),
      removed: Object.values(changes._removed),
      changed: Object.values(changes._changed),
      layout: Object.values(changes._layoutChanged),
    };
    this._mark(this._before, [...grouped.removed, ...grouped.changed], grouped);
    this._mark(this._after, [...grouped.added, ...grouped.changed, ...grouped.layout], grouped);
    this._list(grouped);
    const ids = (list) => list.map((entry) => (entry.model || entry).id);
    focus(this._before, ids([...grouped.removed, ...grouped.changed]));
    focus(this._after, ids([...grouped.added, ...grouped.changed]));
    this._section.dataset.state = "shown";
    return grouped;
  }

  _mark(viewer, entries, grouped) {
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    for (const [kind, list] of Object.entries(grouped)) {
      for (const entry of list) {
        const id = (entry.model || entry).id;
        if (entries.includes(entry) && registry.get(id)) canvas.addMarker(id, KINDS[kind].marker);
      }
    }
  }

  _list(grouped) {
    const body = this._section.querySelector(".diff-list tbody");
    body.replaceChildren();
    const addRow = (kind, cells, id) => {
      const row = document.createElement("tr");
      row.className = `diff-row diff-row-${kind}`;
      if (id) row.dataset.elementId = id;
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    };
    for (const [kind, list] of Object.entries(grouped)) {
      if (kind === "layout") {
        // Moving things (the space tool moves half a diagram) is not a change of behaviour: one summary row.
        if (list.length) {
          const ids = list.map((entry) => entry.id);
          addRow(kind, [KINDS.layout.label(), t(`${ids.length} 要素`, `${ids.length} element(s)`), ids.slice(0, 12).join(", ") + (ids.length > 12 ? " …" : "")]);
        }
        continue;
      }
      for (const entry of list) {
        const id = (entry.model || entry).id;
        addRow(kind, [KINDS[kind].label(), `${id} ${describe(entry)}`, details(entry)], id);
      }
    }
    if (!body.children.length) {
      const row = document.createElement("tr");
      const cell = document.createElement("td");
      cell.colSpan = 3;
      cell.textContent = t("配備中のバージョンとの違いはありません。", "No changes against the deployed version.");
      row.append(cell);
      body.append(row);
    }
  }
}
