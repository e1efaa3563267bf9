// Media Analytics shell. The session token travels as a header (see base.html hx-headers), so the
// single-use hand-off code is dropped from the address bar once the page has loaded.
(function () {
  var url = new URL(window.location.href);
  if (url.searchParams.has("handoff")) {
    url.searchParams.delete("handoff");
    window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
  }
  // One note for the latest failed request, replaced rather than stacked. A filter form's 400 is the
  // server's reason for refusing the filters, shown beside the fields by filters.js instead.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var main = document.getElementById("main");
    var elt = event.detail.elt;
    if (!main || (status === 400 && elt.matches && elt.matches("form") && elt.querySelector("[data-date-range]"))) return;
    var earlier = main.querySelector("[data-response-error]");
    if (earlier) earlier.remove();
    var note = document.createElement("p");
    note.className = "flash flash-error";
    note.setAttribute("data-response-error", "");
    note.setAttribute("role", "alert");
    note.textContent = status === 401
      ? "Your session has ended. Open the tool again from your course's navigation in Canvas."
      : status === 403 ? "You do not have access to that."
      : "That did not work (status " + status + "). Try again.";
    main.prepend(note);
  });
  // The Export dialog (templates/exports/_dialog.html, a whole <dialog data-modal>) and the Custom report
  // window (.custom-report, its <dialog open>) open as modals when swapped in: backdrop, focus, Esc.
  // A form sent from inside the Export dialog has its answer swapped outside it, so close the dialog.
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    if (!elt.matches) return;
    var dialog = elt.matches("dialog[data-modal]") ? elt
      : (elt.matches(".custom-report") ? elt.querySelector("dialog") : null);
    if (!dialog || dialog.matches(":modal")) return;
    if (dialog.open) dialog.close();
    dialog.showModal();
  });
  // A room page's "Show" choice (rooms/page.html): the chosen radio enables its own fieldset and disables the
  // other, before htmx reads the form (capture phase), so the URL names either a session or a date range.
  document.addEventListener("change", function (event) {
    var radio = event.target;
    var choice = radio.closest && radio.closest("[data-show-choice]");
    if (!choice || radio.name !== "show") return;
    choice.querySelectorAll("[data-show]").forEach(function (fieldset) {
      fieldset.disabled = fieldset.getAttribute("data-show") !== radio.value;
    });
  }, true);
  // A link in one block that fills another block (a person's heatmap chosen in a table) would change
  // content out of sight: bring the filled block into view and move focus to its heading.
  document.addEventListener("htmx:afterSwap", function (event) {
    var from = event.detail.requestConfig && event.detail.requestConfig.elt;
    var block = document.getElementById(event.detail.target.id) || event.detail.target;
    if (!from || from.tagName !== "A" || !block.matches || !block.matches("section.block") || block.contains(from)) return;
    var heading = block.querySelector("h2") || block;
    heading.setAttribute("tabindex", "-1");
    heading.focus({preventScroll: true});
    block.scrollIntoView({block: "start"});
  });
  // Hover cards (.hover-card): Escape hides the open card until the pointer or focus leaves its name.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var card = document.activeElement && document.activeElement.closest && document.activeElement.closest(".hover-card");
    document.querySelectorAll(".hover-card:hover").forEach(function (open) { open.classList.add("dismissed"); });
    if (card) card.classList.add("dismissed");
  });
  ["mouseout", "focusout"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var card = event.target.closest && event.target.closest(".hover-card");
      if (card && !card.contains(event.relatedTarget)) card.classList.remove("dismissed");
    });
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = event.detail.elt.closest ? event.detail.elt.closest("dialog[data-modal]") : null;
    if (dialog && dialog.open && event.detail.elt.tagName === "FORM") dialog.close();
  });
})();
