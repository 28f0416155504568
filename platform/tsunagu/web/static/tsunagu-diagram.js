// The case's BPMN diagram (bpmn-js NavigatedViewer, served from /static/dist), with the current position marked.
(function () {
  "use strict";
  function show() {
    var container = document.getElementById("diagram");
    if (!container || typeof window.BpmnJS !== "function") { return; }
    var viewer = new window.BpmnJS({ container: container });
    fetch(container.dataset.src, { credentials: "same-origin", headers: { Accept: "application/xml" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        canvas.zoom("fit-viewport");
        var marked = [];
        (container.dataset.highlight || "").split(" ").forEach(function (id) {
          var element = id && registry.get(id);
          if (element) { canvas.addMarker(id, "current-step"); marked.push(element); }
        });
        // A whole casework diagram fitted into the page is too small to read: zoom in on where the case is
        // (inside a called process: on the call activity), or on the start when nothing is marked.
        var target = null;
        if (canvas.zoom() < 0.75) {
          var starts = registry.filter(function (e) { return e.type === "bpmn:StartEvent"; });
          target = marked.length ? marked[marked.length - 1] : starts[0];
        }
        if (target) {
          var outer = canvas.viewbox().outer;
          var width = outer.width / 0.75, height = outer.height / 0.75;
          canvas.viewbox({
            x: target.x + (target.width || 0) / 2 - width / 2,
            y: target.y + (target.height || 0) / 2 - height / 2,
            width: width,
            height: height
          });
        }
        // The instance page marks where an open incident failed, too.
        (container.dataset.incident || "").split(" ").forEach(function (id) {
          if (id && registry.get(id)) { canvas.addMarker(id, "incident-step"); }
        });
        container.dataset.loaded = "true";
      })
      .catch(function (error) {
        container.dataset.loaded = "error";
        container.textContent = container.getAttribute("aria-label") + " — " + error.message;
      });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", show); } else { show(); }
})();
