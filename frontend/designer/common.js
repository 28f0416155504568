// What every designer page shares: the data the server embedded, JSON calls with the CSRF token, the
// problem list, the status line and the deploy form. No framework; the page is server-rendered.
import { StyleModule } from "style-mod";

// CodeMirror (dmn-js cell editors, form-js label fields, the properties panel's FEEL fields) styles itself
// through style-mod, which puts a <style> element into a document's head. Under the app's CSP that element
// needs the page's nonce: create style-mod's style set for this document first, with the nonce of the
// script tag that loaded this bundle; every editor mounted later reuses it.
const nonce = document.currentScript && document.currentScript.nonce;
if (nonce) StyleModule.mount(document, [], { nonce });

export function pageData() {
  return JSON.parse(document.getElementById("designer-data").textContent);
}

export const lang = document.documentElement.lang === "en" ? "en" : "ja";

/** A UI string of the bundle in the page's language. */
export function t(ja, en) {
  return lang === "en" ? en : ja;
}

export async function postJSON(url, body, csrf) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  const type = response.headers.get("Content-Type") || "";
  const payload = type.includes("application/json") ? await response.json() : await response.text();
  return { status: response.status, ok: response.ok, payload };
}

export function errorMessage(result) {
  const error = result.payload && result.payload.error;
  return error ? error.message : t(`サーバーの応答: ${result.status}`, `server answered ${result.status}`);
}

export function setStatus(text, kind = "info") {
  const status = document.getElementById("designer-status");
  status.textContent = text;
  status.dataset.kind = kind;
}

/**
 * Show the server's problems (file, line, element, message). ``onSelect(elementId)`` makes an element's
 * problem a button that selects the element in the editor.
 */
export function showProblems(problems, onSelect) {
  const section = document.getElementById("designer-problems");
  const list = section.querySelector("ul");
  list.replaceChildren();
  for (const problem of problems) {
    const item = document.createElement("li");
    item.className = "designer-problem";
    if (problem.element_id) item.dataset.elementId = problem.element_id;
    const where = document.createElement(problem.element_id && onSelect ? "button" : "span");
    where.className = problem.element_id && onSelect ? "button-link problem-where" : "problem-where";
    where.textContent = `${problem.file}${problem.line ? ":" + problem.line : ""}${problem.element_id ? " [" + problem.element_id + "]" : ""}`;
    if (where.tagName === "BUTTON") {
      where.type = "button";
      where.addEventListener("click", () => onSelect(problem.element_id));
    }
    const message = document.createElement("span");
    message.className = "problem-message";
    message.textContent = " " + problem.message;
    item.append(where, message);
    list.append(item);
  }
  section.hidden = problems.length === 0;
}

/** Ask the server whether the draft would deploy. Returns its problems. */
export async function validateDraft(data, content, onSelect) {
  setStatus(t("検証しています…", "Validating…"));
  const result = await postJSON(data.urls.validate, { file: data.file, content }, data.csrf);
  if (!result.ok) {
    setStatus(errorMessage(result), "error");
    return null;
  }
  const problems = result.payload.problems;
  showProblems(problems, onSelect);
  setStatus(
    problems.length
      ? t(`問題が ${problems.length} 件あります。配備できません。`, `${problems.length} problem(s): the deployment would be refused.`)
      : t("問題はありません。配備できます。", "No problems: the draft can be deployed."),
    problems.length ? "error" : "ok",
  );
  document.getElementById("designer").dataset.validated = problems.length ? "problems" : "ok";
  return problems;
}

/** Wire the deploy form: ``getContent()`` returns the draft (a promise of text). */
export function wireDeploy(data, getContent, onSelect) {
  const form = document.getElementById("designer-deploy");
  if (!form) return;
  const note = form.querySelector("textarea");
  const noteError = document.getElementById("designer-note-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    noteError.hidden = true;
    note.removeAttribute("aria-invalid");
    if (!note.value.trim()) {
      noteError.textContent = t("変更内容のメモを入力してください。", "Write a change note.");
      noteError.hidden = false;
      note.setAttribute("aria-invalid", "true");
      note.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    setStatus(t("配備しています…", "Deploying…"));
    try {
      const content = await getContent();
      const result = await postJSON(
        data.urls.deploy,
        { file: data.file, content, note: note.value, base_version: data.version },
        data.csrf,
      );
      if (result.ok) {
        form.dispatchEvent(new CustomEvent("designer:deployed"));
        window.location.assign(result.payload.redirect);
        return;
      }
      const details = result.payload.error && result.payload.error.details;
      if (details && details.problems) showProblems(details.problems, onSelect);
      setStatus(errorMessage(result), "error");
    } finally {
      button.disabled = false;
    }
  });
}

/**
 * The draft survives a reload: kept in this browser's localStorage (definitions, never case data) per page and
 * base version until it is deployed or discarded. ``pristine`` is the editor's export of the file as opened
 * (an unedited file is not a draft); ``restore(text)`` loads a kept draft into the editor.
 * Returns ``changed(getContent)`` for the editor to call on every edit.
 */
export function keepDraft(data, pristine, restore) {
  const key = `tsunagu-draft:${window.location.pathname}:v${data.version}`;
  const notice = document.getElementById("designer-draft-notice");
  let saved = null;
  try {
    saved = window.localStorage.getItem(key);
  } catch {
    return () => {};
  }
  if (saved && saved !== pristine && notice) {
    notice.hidden = false;
    notice.querySelector("[data-action=restore]").addEventListener("click", async () => {
      notice.hidden = true;
      await restore(saved);
      setStatus(t("保存されていた下書きを復元しました。", "The kept draft was restored."), "ok");
    });
    notice.querySelector("[data-action=discard]").addEventListener("click", () => {
      window.localStorage.removeItem(key);
      notice.hidden = true;
    });
  }
  document.getElementById("designer-deploy")?.addEventListener("designer:deployed", () => window.localStorage.removeItem(key));
  let timer = null;
  return (getContent) => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      try {
        const content = await getContent();
        if (content === pristine) window.localStorage.removeItem(key);
        else window.localStorage.setItem(key, content);
      } catch {
        // storage full or disabled: the draft is simply not kept
      }
    }, 500);
  };
}
