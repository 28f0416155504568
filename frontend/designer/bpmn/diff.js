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

function details(entry) {
  if (!entry.attrs) return "";
  return Object.entries(entry.attrs)
    .map(([name, change]) => `${name}: ${JSON.stringify(change.oldValue) ?? "—"} → ${JSON.stringify(change.newValue) ?? "—"}`)
    .join("; ");
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
    this._before.get("canvas").zoom("fit-viewport");
    this._after.get("canvas").zoom("fit-viewport");
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
    for (const [kind, list] of Object.entries(grouped)) {
      for (const entry of list) {
        const row = document.createElement("tr");
        row.className = `diff-row diff-row-${kind}`;
        row.dataset.elementId = (entry.model || entry).id;
        for (const text of [KINDS[kind].label(), `${(entry.model || entry).id} ${describe(entry)}`, details(entry)]) {
          const cell = document.createElement("td");
          cell.textContent = text;
          row.append(cell);
        }
        body.append(row);
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
