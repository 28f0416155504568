// The DMN designer: dmn-js Modeler on the decision table of the file (e.g. the routing table meeting_route),
// validated and deployed by the server like every designer. Japanese labels from our own catalogue.
import "dmn-js/dist/assets/diagram-js.css";
import "dmn-js/dist/assets/dmn-js-shared.css";
import "dmn-js/dist/assets/dmn-js-drd.css";
import "dmn-js/dist/assets/dmn-js-decision-table.css";
import "dmn-js/dist/assets/dmn-js-decision-table-controls.css";
import "dmn-js/dist/assets/dmn-js-literal-expression.css";
import "dmn-js/dist/assets/dmn-font/css/dmn-embedded.css";
import "./designer.css";

import DmnModeler from "dmn-js/lib/Modeler";

import { keepDraft, lang, pageData, setStatus, t, validateDraft, wireDeploy } from "./common.js";

const JA = {
  When: "条件",
  And: "かつ",
  Then: "結果",
  Annotations: "メモ",
  "Hit policy": "ヒットポリシー",
  "Hit policy:": "ヒットポリシー:",
  "Add rule": "行を追加",
  "Add input": "条件の列を追加",
  "Add output": "結果の列を追加",
  "Edit input": "条件の列を編集",
  "Edit output": "結果の列を編集",
  "Input label: ": "条件の名前: ",
  "Input expression: ": "条件の式: ",
  "Input values": "条件の値",
  "Input type": "条件の型",
  "Output label": "結果の名前",
  "Output name": "結果の変数",
  "Output values": "結果の値",
  "Output type": "結果の型",
  string: "文字列",
  boolean: "真偽値",
  number: "数値",
  "View Drd": "決定要求図を表示",
  "Delete rule": "行を削除",
  "Add rule above": "上に行を追加",
  "Add rule below": "下に行を追加",
  "Copy rule above": "上に行をコピー",
  "Copy rule below": "下に行をコピー",
  "Remove rule": "行を削除",
};

function translate(template, replacements) {
  const text = (lang === "ja" && JA[template]) || template;
  return text.replace(/{([^}]+)}/g, (_, key) => (replacements && key in replacements ? replacements[key] : `{${key}}`));
}

async function main() {
  const data = pageData();
  const root = document.getElementById("designer");
  const translation = { additionalModules: [{ translate: ["value", translate] }] };
  const modeler = new DmnModeler({
    container: "#designer-canvas",
    common: translation,
    drd: translation,
    decisionTable: translation,
    literalExpression: translation,
  });
  await modeler.importXML(data.source);
  const draft = async () => (await modeler.saveXML({ format: true })).xml;
  const openTable = async () => {
    const view = modeler.getViews().find((v) => v.type === "decisionTable");
    if (view) await modeler.open(view);
  };
  await openTable();
  const changed = keepDraft(data, await draft(), async (xml) => {
    await modeler.importXML(xml);
    await openTable();
  });
  // Edits are commands of the open view's command stack (each view has its own viewer).
  const watched = new WeakSet();
  const watch = () => {
    const viewer = modeler.getActiveViewer();
    if (!viewer || watched.has(viewer)) return;
    watched.add(viewer);
    viewer.get("eventBus").on("commandStack.changed", () => {
      root.dataset.dirty = "true";
      changed(draft);
    });
  };
  modeler.on("views.changed", () => {
    watch();
  });
  watch();
  root.dataset.state = "ready";
  document.getElementById("designer-validate").addEventListener("click", async () => validateDraft(data, await draft()));
  wireDeploy(data, draft);
  setStatus(t("セルをクリックして編集します。", "Click a cell to edit it."));
}

main().catch((error) => {
  document.getElementById("designer").dataset.state = "error";
  setStatus(t(`設計画面を開けません: ${error.message}`, `The designer could not start: ${error.message}`), "error");
});
