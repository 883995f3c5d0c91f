/* The pages' Content-Security-Policy requires Trusted Types for script sinks
   (require-trusted-types-for 'script'). Swagger UI renders the Markdown of the service's own OpenAPI
   document (text written in this repository, never a visitor's), sanitises it with DOMPurify, and
   sets it through React's innerHTML; this default policy passes that on, on the /docs page only. */
"use strict";
if (window.trustedTypes && window.trustedTypes.createPolicy && !window.trustedTypes.defaultPolicy) {
  window.trustedTypes.createPolicy("default", {
    createHTML: function (html) { return html; },
  });
}
