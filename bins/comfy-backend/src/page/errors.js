// Loaded first and not deferred, so it sees what goes wrong while the page is parsed too.
"use strict";
// Script errors and refused loads (CSP) are counted on <html data-page-errors> (the browser test
// checks it stays unset) and logged to the console.
function notePageError(what) {
  const root = document.documentElement;
  root.dataset.pageErrors = String(Number(root.dataset.pageErrors || 0) + 1);
  console.error("comfy-local page:", what);
}
window.addEventListener("error", (e) => notePageError(e.message || "script error"));
window.addEventListener("unhandledrejection", (e) => notePageError(String(e.reason)));
document.addEventListener("securitypolicyviolation", (e) => notePageError(`CSP refused ${e.blockedURI || "inline content"} (${e.violatedDirective})`));
