/* bcrm — draws the page's charts (web/_chart.html) with vega-embed, from a static file: the
   Content-Security-Policy allows no inline script and no eval.
   - the vendored bundle is loaded once, as a module (its top-level names stay out of the global scope), and
     only on pages that have a chart; its URL and the translated labels come from the chart's data attributes;
   - vega-embed runs with `ast: true`, so Vega evaluates expressions with its interpreter instead of
     compiling them with Function() (which 'unsafe-eval' would have to allow);
   - charts htmx swaps in later are drawn on its "htmx:load" event. */
(function () {
  "use strict";

  function options(el) {
    return {
      ast: true,
      actions: {export: true, source: false, compiled: false, editor: false}, renderer: "svg",
      i18n: {SVG_ACTION: el.getAttribute("data-label-svg") || "SVG",
             PNG_ACTION: el.getAttribute("data-label-png") || "PNG"}
    };
  }

  function drawAll() {
    document.querySelectorAll("[data-vega-spec]:not([data-drawn])").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-vega-spec"));
      if (!source) return;
      el.setAttribute("data-drawn", "1");
      window.vegaEmbed(el, JSON.parse(source.textContent), options(el)).catch(function () {
        el.textContent = el.getAttribute("data-label-failed") || "";
      });
    });
  }

  function load() {
    var first = document.querySelector("[data-vega-spec]:not([data-drawn])");
    if (!first) return;
    if (window.vegaEmbed) { drawAll(); return; }
    var script = document.getElementById("vega-bundle");
    if (!script) {
      script = document.createElement("script");
      script.id = "vega-bundle";
      script.type = "module";
      script.src = first.getAttribute("data-vega-bundle");
      document.head.appendChild(script);
    }
    script.addEventListener("load", drawAll);
  }

  document.addEventListener("htmx:load", load);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", load);
  else load();
})();
