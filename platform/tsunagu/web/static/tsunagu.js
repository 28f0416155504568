// Progressive enhancement for Tsunagu pages. Everything works without this file; it only adds comfort.
(function () {
  "use strict";

  // Focus the error summary or the conflict message so screen readers and keyboards land on it.
  function focusAlert() {
    var alert = document.querySelector(".conflict, .error-summary");
    if (alert) { alert.focus(); }
  }

  // "Select all" on the inbox list (hidden without JavaScript).
  function wireSelectAll(root) {
    var all = root.querySelector(".select-all");
    if (!all) { return; }
    all.hidden = false;
    all.addEventListener("change", function () {
      root.querySelectorAll('input[name="task"]').forEach(function (box) { box.checked = all.checked; });
    });
  }

  // Do not refresh the list under the user's hands: skip the 30-second refresh while tasks are ticked
  // or while focus is inside the list.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || elt.id !== "inbox-list") { return; }
    if (elt.querySelector('input[name="task"]:checked') || elt.contains(document.activeElement)) {
      event.preventDefault();
    }
  });
  document.addEventListener("htmx:afterSwap", function () {
    var list = document.getElementById("inbox-list");
    if (list) { wireSelectAll(list); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    focusAlert();
    var list = document.getElementById("inbox-list");
    if (list) { wireSelectAll(list); }
  });
})();
