// As-you-type checks of expressions by the server's own evaluator (engine.expressions through
// POST .../designer/validate-expression): one request per distinct text, remembered for the page's life.
import { postJSON } from "../common.js";

export class ExpressionChecker {
  constructor(url, csrf) {
    this._url = url;
    this._csrf = csrf;
    this._verdicts = new Map(); // key → message ("" when accepted)
    this._pending = new Set();
    this._listeners = [];
  }

  static key(text, kind) {
    return `${kind}\u0000${text}`;
  }

  /** The server's message for ``text``, "" when accepted, ``undefined`` while unknown (then it is asked). */
  verdict(text, kind = "formalExpression") {
    const key = ExpressionChecker.key(text, kind);
    if (this._verdicts.has(key)) return this._verdicts.get(key) || null;
    this.check(text, kind);
    return undefined;
  }

  /** Ask the server now; resolves to the message or "" (accepted). */
  async check(text, kind = "formalExpression") {
    const key = ExpressionChecker.key(text, kind);
    if (this._verdicts.has(key)) return this._verdicts.get(key);
    if (this._pending.has(key)) return undefined;
    this._pending.add(key);
    try {
      const result = await postJSON(this._url, { expression: text, kind }, this._csrf);
      // A refused request (network, session expired) decides nothing: the deploy checks again anyway.
      const message = result.ok ? result.payload.message || "" : "";
      this._verdicts.set(key, message);
      this._listeners.forEach((listener) => listener(text, kind, message));
      return message;
    } finally {
      this._pending.delete(key);
    }
  }

  onVerdict(listener) {
    this._listeners.push(listener);
  }
}
