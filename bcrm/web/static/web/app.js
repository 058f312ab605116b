/* bcrm — the little script every page shares (no inline script: a Content-Security-Policy forbids it).
   - the menu button opens and closes the navigation on narrow screens (aria-expanded says which);
   - "/" (when not typing) and Ctrl+K / ⌘K focus the top bar's search; Escape closes its dropdown;
   - a "select all" checkbox ticks the rows of the form it names (the task list's bulk actions);
   - a form with data-confirm="question" is sent only when the user confirms the question. */
(function () {
  "use strict";

  function typing(target) {
    if (!target) return false;
    var tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function setup() {
    var topbar = document.querySelector(".topbar");
    var toggle = document.querySelector(".nav-toggle");
    var nav = document.getElementById("mainnav");
    if (toggle && nav && topbar) {
      var label = function (open) {
        var text = toggle.getAttribute(open ? "data-label-close" : "data-label-open");
        if (text) toggle.setAttribute("aria-label", text);
      };
      label(false);
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
        topbar.classList.toggle("nav-open", open);
        label(open);
      });
    }

    var search = document.getElementById("global-search-q");
    var dropdown = document.getElementById("search-dropdown");
    function closeDropdown() { if (dropdown) dropdown.hidden = true; }
    document.addEventListener("keydown", function (event) {
      if (!search) return;
      var ctrlK = (event.ctrlKey || event.metaKey) && (event.key === "k" || event.key === "K");
      if (ctrlK || (event.key === "/" && !typing(event.target) && !event.altKey && !event.ctrlKey && !event.metaKey)) {
        event.preventDefault();
        if (topbar && getComputedStyle(search).display === "none" && toggle) toggle.click();
        search.focus();
        search.select();
      } else if (event.key === "Escape" && dropdown && !dropdown.hidden) {
        closeDropdown();
        search.focus();
      }
    });
    if (dropdown) {
      document.body.addEventListener("htmx:afterSwap", function (event) {
        if (event.detail && event.detail.target === dropdown) dropdown.hidden = !search.value.trim();
      });
      document.addEventListener("click", function (event) {
        if (!dropdown.hidden && !dropdown.parentNode.contains(event.target)) closeDropdown();
      });
      search.addEventListener("focus", function () {
        if (dropdown.innerHTML.trim() && search.value.trim()) dropdown.hidden = false;
      });
    }

    document.addEventListener("change", function (event) {
      var box = event.target;
      if (!box || !box.matches || !box.matches("input[data-select-all]")) return;
      var form = box.getAttribute("form");
      var name = box.getAttribute("data-select-all");
      var selector = 'input[type="checkbox"][name="' + name + '"]' + (form ? '[form="' + form + '"]' : "");
      document.querySelectorAll(selector).forEach(function (row) { row.checked = box.checked; });
    });

    // A picker's lookup box (bcrm.ui.widgets.LookupSelect) only refreshes its select: typing in it neither
    // submits the form around it (Enter) nor counts as a change of the form (the filters reload on change).
    document.addEventListener("change", function (event) {
      if (event.target && event.target.matches && event.target.matches("input.lookup-q")) event.stopPropagation();
    }, true);
    document.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target && event.target.matches && event.target.matches("input.lookup-q")) {
        event.preventDefault();
      }
    });

    document.addEventListener("submit", function (event) {
      var form = event.target;
      var question = form && form.getAttribute && form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) event.preventDefault();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
