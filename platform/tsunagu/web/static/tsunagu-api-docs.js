// The API reference page: Swagger UI (swagger-ui-dist from npm, served from static/dist/) renders the
// tenant's generated openapi.json. No inline script: the document's URL comes from a data attribute.
(function () {
  "use strict";
  var root = document.getElementById("api-docs");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    tryItOutEnabled: false,
    validatorUrl: null, // never ask a remote validator about the document
    displayRequestDuration: true,
  });
})();
