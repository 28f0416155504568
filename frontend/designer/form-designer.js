// The form designer: form-js editor limited to the components the server can validate and render, with the
// field's information category, and a live preview rendered by the server (forms/render.py) — the same
// HTML the task page shows.
import "@bpmn-io/form-js-viewer/dist/assets/form-js.css";
import "@bpmn-io/form-js-editor/dist/assets/form-js-editor.css";
import "@bpmn-io/form-js-editor/dist/assets/properties-panel.css";
import "./designer.css";

import { FormEditor } from "@bpmn-io/form-js-editor";

import { keepDraft, lang, pageData, postJSON, setStatus, t, validateDraft, wireDeploy } from "./common.js";
import { categoryModule } from "./form/category.jsx";

// What platform/tsunagu/forms/schema.py accepts (INPUT_TYPES and STATIC_TYPES it can show), with Japanese names.
const ALLOWED = {
  textfield: "テキスト",
  textarea: "複数行テキスト",
  number: "数値",
  datetime: "日付・時刻",
  select: "プルダウン",
  radio: "ラジオボタン",
  checkbox: "チェックボックス",
  checklist: "チェックリスト",
  taglist: "タグ",
  group: "グループ",
  text: "説明文",
  spacer: "余白",
  separator: "区切り線",
};

function limitPalette(editor) {
  const formFields = editor.get("formFields");
  for (const type of Object.keys(formFields._formFields)) {
    if (type === "default") continue;
    if (!(type in ALLOWED)) {
      delete formFields._formFields[type];
    } else if (lang === "ja") {
      formFields._formFields[type].config.name = ALLOWED[type];
    }
  }
}

async function main() {
  const data = pageData();
  const root = document.getElementById("designer");
  const preview = document.getElementById("designer-preview");
  const editor = new FormEditor({
    container: "#designer-canvas",
    propertiesPanel: { parent: "#designer-properties" },
    additionalModules: [categoryModule(data.categories)],
  });
  limitPalette(editor);
  await editor.importSchema(JSON.parse(data.source));
  root.dataset.state = "ready";

  const draft = async () => JSON.stringify(editor.saveSchema(), null, 2) + "\n";

  let previewTimer = null;
  async function refreshPreview() {
    const result = await postJSON(data.urls.preview, { schema: editor.saveSchema() }, data.csrf);
    if (result.ok) {
      // The server's own rendering (Jinja, escaped): the same fields the task page shows.
      preview.innerHTML = result.payload;
      preview.dataset.state = "fresh";
    } else {
      preview.textContent = result.payload && result.payload.error ? result.payload.error.message : String(result.status);
      preview.dataset.state = "error";
    }
  }
  const changed = keepDraft(data, await draft(), async (text) => {
    await editor.importSchema(JSON.parse(text));
    await refreshPreview();
  });
  editor.on("changed", () => {
    root.dataset.dirty = "true";
    changed(draft);
    preview.dataset.state = "stale";
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 400);
  });
  document.getElementById("designer-preview-button").addEventListener("click", refreshPreview);
  document.getElementById("designer-validate").addEventListener("click", async () => validateDraft(data, await draft()));
  wireDeploy(data, draft);
  await refreshPreview();
  setStatus(t("左の部品をフォームへドラッグして追加します。", "Drag a component from the left onto the form."));
}

main().catch((error) => {
  document.getElementById("designer").dataset.state = "error";
  setStatus(t(`設計画面を開けません: ${error.message}`, `The designer could not start: ${error.message}`), "error");
});
