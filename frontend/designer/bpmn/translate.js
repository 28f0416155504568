// Japanese labels for bpmn-js: the community translation (bpmn-js-i18n, which covers the palette, context
// pad and replace menu) completed by our own catalogue for the properties panel, the lint overlay and the
// rest. English pages keep bpmn-js's own English. Chosen from the page's <html lang>.
import communityJa from "bpmn-js-i18n/translations/ja.js";

import { lang } from "../common.js";

export const OWN_JA = {
  // properties panel (bpmn-js-properties-panel)
  General: "一般",
  Name: "名前",
  ID: "ID",
  Documentation: "説明",
  "Element documentation": "要素の説明",
  "Process documentation": "プロセスの説明",
  "Process name": "プロセス名",
  "Process ID": "プロセス ID",
  "Participant Name": "参加者名",
  Executable: "実行可能",
  Timer: "タイマー",
  Type: "種類",
  Value: "値",
  Date: "日時",
  Duration: "期間",
  Cycle: "繰り返し",
  "<none>": "（なし）",
  Message: "メッセージ",
  "Global message reference": "メッセージ",
  Signal: "シグナル",
  "Global signal reference": "シグナル",
  Error: "エラー",
  "Global error reference": "エラー",
  Escalation: "エスカレーション",
  "Global escalation reference": "エスカレーション",
  Code: "コード",
  Link: "リンク",
  Compensation: "補償",
  "Activity reference": "アクティビティ参照",
  "Wait for completion": "完了を待つ",
  "Multi-instance": "マルチインスタンス",
  "Loop cardinality": "繰り返し回数",
  "Completion condition": "完了条件",
  Completion: "完了",
  "Cancel remaining instances": "残りのインスタンスを取り消す",
  "Create new ...": "新規作成…",
  "Select an element to edit its properties.": "要素を選ぶとプロパティを編集できます。",
  "Multiple elements are selected. Select a single element to edit its properties.":
    "複数の要素が選ばれています。プロパティを編集するには一つだけ選んでください。",
  "ID must be unique.": "ID は一意にしてください。",
  "ID must not be empty.": "ID を入力してください。",
  "ID must not contain spaces.": "ID に空白は使えません。",
  "ID must not contain prefix.": "ID に接頭辞は使えません。",
  "ID must be a valid QName.": "ID は XML の名前として正しい形にしてください。",
  "A specific point in time defined as ISO 8601 combined date and time representation.":
    "ISO 8601 の日時で指定する時点（つなぐでは式として書きます）。",
  "A time duration defined as ISO 8601 durations format.": "ISO 8601 の期間（つなぐでは式として書きます）。",
  "A cycle defined as ISO 8601 repeating intervals format.": "ISO 8601 の繰り返し（つなぐでは式として書きます）。",
  "Documentation: Timer events": "説明: タイマーイベント",
  // lint overlay (bpmn-js-bpmnlint)
  "Toggle linting overlays": "図上の問題表示の切り替え",
  "Issues for child elements": "中の要素の問題",
  "{errors} Errors, {warnings} Warnings": "エラー {errors} 件、警告 {warnings} 件",
  "No Issues": "問題なし",
  // palette and context pad entries the community file does not have (yet)
  "Create user task": "ユーザータスクを作成",
  "Append user task": "ユーザータスクを追加",
  "Append text annotation": "注釈を追加",
  "Add lane": "レーンを追加",
  "Divide into two lanes": "2 つのレーンに分割",
  "Divide into three lanes": "3 つのレーンに分割",
  "Delete": "削除",
  "Change element": "要素を変更",
  "Search in diagram": "図の中を検索",
};

const catalogue = lang === "ja" ? { ...OWN_JA, ...communityJa } : {};

export function translate(template, replacements) {
  const text = catalogue[template] || template;
  return text.replace(/{([^}]+)}/g, (_, key) => (replacements && key in replacements ? replacements[key] : `{${key}}`));
}

export const TranslateModule = { translate: ["value", translate] };
