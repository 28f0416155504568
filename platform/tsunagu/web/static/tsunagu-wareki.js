// 和暦 entry beside every date input: typing 昭和55年4月1日, S55.4.1 or R1.5.1 fills the date (西暦), and the
// date picked shows in 和暦. The same rules as tsunagu.web.dates.parse_date (tests cover both). Without
// JavaScript the date input works as before.
(function () {
  "use strict";
  var ERAS = [ // first day of each era, newest first
    ["令和", "reiwa", "r", 2019, 5, 1], ["平成", "heisei", "h", 1989, 1, 8], ["昭和", "showa", "s", 1926, 12, 25],
    ["大正", "taisho", "t", 1912, 7, 30], ["明治", "meiji", "m", 1868, 10, 23]
  ];
  var GREGORIAN_FROM = "1873-01-01";
  var WAREKI = /^(明治|大正|昭和|平成|令和|meiji|taisho|showa|heisei|reiwa|[mtshr])\s*(元|\d{1,2})\s*(?:年|[./\-\s])\s*(\d{1,2})\s*(?:月|[./\-\s])\s*(\d{1,2})\s*日?$/;
  var SEIREKI = /^(\d{4})\s*(?:年|[./\-])\s*(\d{1,2})\s*(?:月|[./\-])\s*(\d{1,2})\s*日?$/;

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function iso(y, m, d) {
    var t = new Date(Date.UTC(y, m - 1, d));
    if (t.getUTCFullYear() !== y || t.getUTCMonth() !== m - 1 || t.getUTCDate() !== d) { return null; }
    return ("000" + y).slice(-4) + "-" + pad(m) + "-" + pad(d);
  }
  function eraStart(era) { return iso(era[3], era[4], era[5]); }
  function eraOf(value) {
    if (value < GREGORIAN_FROM) { return null; }
    for (var i = 0; i < ERAS.length; i++) { if (value >= eraStart(ERAS[i])) { return ERAS[i]; } }
    return null;
  }
  function parse(text) {
    var value = (text || "").normalize("NFKC").trim().toLowerCase();
    var m = SEIREKI.exec(value);
    if (m) { return iso(+m[1], +m[2], +m[3]); }
    m = WAREKI.exec(value);
    if (!m) { return null; }
    var era = ERAS.filter(function (e) { return e[0] === m[1] || e[1] === m[1] || e[2] === m[1]; })[0];
    var year = m[2] === "元" ? 1 : +m[2];
    if (year < 1) { return null; }
    var day = iso(era[3] + year - 1, +m[3], +m[4]);
    return day && eraOf(day) === era ? day : null; // outside its era (昭和65年): refused, not guessed
  }
  function wareki(value) {
    var era = value && eraOf(value);
    if (!era) { return ""; }
    var year = +value.slice(0, 4) - era[3] + 1;
    return era[0] + (year === 1 ? "元" : year) + "年" + (+value.slice(5, 7)) + "月" + (+value.slice(8, 10)) + "日";
  }

  function enhance(input) {
    if (input.dataset.wareki || !input.id) { return; }
    input.dataset.wareki = "on";
    var texts = document.body.dataset;
    var box = document.createElement("span");
    box.className = "wareki-entry";
    var label = document.createElement("label");
    label.htmlFor = input.id + "-wareki";
    label.textContent = texts.warekiLabel || "和暦で入力";
    var entry = document.createElement("input");
    entry.type = "text";
    entry.id = input.id + "-wareki";
    entry.className = "wareki-input";
    entry.autocomplete = "off";
    entry.placeholder = texts.warekiPlaceholder || "S55.4.1";
    var note = document.createElement("span");
    note.className = "wareki-note";
    note.id = input.id + "-wareki-note";
    note.setAttribute("aria-live", "polite");
    entry.setAttribute("aria-describedby", note.id);
    box.appendChild(label); box.appendChild(entry); box.appendChild(note);
    input.insertAdjacentElement("afterend", box);
    function show() { note.textContent = input.value ? wareki(input.value) : ""; }
    entry.addEventListener("change", function () {
      if (!entry.value.trim()) { return; }
      var day = parse(entry.value);
      if (!day) { note.textContent = texts.warekiInvalid || "?"; entry.setAttribute("aria-invalid", "true"); return; }
      entry.removeAttribute("aria-invalid");
      input.value = day;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
      show();
    });
    input.addEventListener("change", show);
    show();
  }
  function enhanceAll(root) { (root || document).querySelectorAll('input[type="date"]').forEach(enhance); }
  window.tsunaguWareki = { parse: parse, wareki: wareki };
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", function () { enhanceAll(); }); } else { enhanceAll(); }
  document.addEventListener("htmx:afterSettle", function (event) { enhanceAll(event.target); });
})();
