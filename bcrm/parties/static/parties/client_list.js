// The client list's bulk selection: "select all on this page" and the count of selected rows.
// Event delegation on the document, so it keeps working after htmx swaps the results.
(function () {
  "use strict";

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll("#org-results input[name=ids][form=bulk-form]"));
  }

  function updateCount() {
    var count = document.getElementById("bulk-count");
    if (count) {
      count.textContent = String(boxes().filter(function (b) { return b.checked; }).length);
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement) || target.type !== "checkbox") {
      return;
    }
    if (target.id === "select-all") {
      boxes().forEach(function (b) { b.checked = target.checked; });
    } else if (target.name === "ids") {
      var all = document.getElementById("select-all");
      if (all) {
        var list = boxes();
        all.checked = list.length > 0 && list.every(function (b) { return b.checked; });
      }
    } else {
      return;
    }
    updateCount();
  });
})();
