/* Starts Swagger UI (vendored in ./swagger-ui, unmodified) on the service's own OpenAPI document.
   A file, not an inline script, so the page runs under the same Content-Security-Policy as every page. */
"use strict";
window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
  withCredentials: true,
});
