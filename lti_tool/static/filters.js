// The filter bar (templates/_partials/dashboard.html): a custom range is checked before it is sent, and
// what is wrong with it, or the server's own refusal of the filters, is written once into the live region
// beside the date fields; the multi-select choices narrow as one types in their Find box.
(function () {
  function rangeParts(form) {
    var box = form.querySelector("[data-date-range]");
    if (!box) return null;
    return { range: box.querySelector("select[name=range]"), from: box.querySelector("input[name=from]"),
             to: box.querySelector("input[name=to]"), message: box.querySelector("[data-range-message]") };
  }

  function say(parts, text, invalid) {
    if (parts.message.textContent !== text) parts.message.textContent = text;
    [parts.from, parts.to].forEach(function (field) {
      if (invalid.indexOf(field) >= 0) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    });
  }

  // Required and ordered only for a custom range, so htmx's form validation holds back anything else.
  function sync(parts) {
    var custom = parts.range.value === "custom";
    parts.from.required = custom;
    parts.to.required = custom;
    parts.to.min = parts.from.value || parts.from.min;
    parts.from.max = parts.to.value || parts.to.max;
  }

  function problem(parts) {
    var from = parts.from, to = parts.to;
    if (!from.value && !to.value) return ["Choose the From and To days of the custom range.", [from, to]];
    if (!from.value) return ["Choose the From day of the custom range.", [from]];
    if (!to.value) return ["Choose the To day of the custom range.", [to]];
    if (to.value < from.value) return ["The To day must be on or after the From day.", [to]];
    if (from.value < from.min || to.value > to.max) {
      return ["Choose days between " + from.min + " and " + to.max + ".", [from, to]];
    }
    return null;
  }

  document.addEventListener("input", function (event) {
    var form = event.target.form;
    var parts = form && rangeParts(form);
    if (parts && (event.target === parts.from || event.target === parts.to)) sync(parts);
    if (event.target.matches && event.target.matches("[data-choices-find]")) narrow(event.target);
  });
  document.addEventListener("change", function (event) {
    var parts = event.target.form && rangeParts(event.target.form);
    if (parts) sync(parts);
    // Typing in a Find box only narrows the choices: it is no filter to send.
    if (event.target.matches && event.target.matches("[data-choices-find]")) event.stopPropagation();
  }, true);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.matches && event.target.matches("[data-choices-find]")) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:validation:halted", function (event) {
    var parts = event.target.matches("form") && rangeParts(event.target);
    var found = parts && problem(parts);
    if (found) say(parts, found[0], found[1]);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var parts = event.detail.elt.matches && event.detail.elt.matches("form") && rangeParts(event.detail.elt);
    if (parts && event.detail.successful) say(parts, "", []);
  });
  // A 400 to the filter form is the server refusing the filters: show its reason beside the fields
  // (app.js leaves such answers to this handler).
  document.addEventListener("htmx:responseError", function (event) {
    var elt = event.detail.elt;
    var parts = elt.matches && elt.matches("form") && rangeParts(elt);
    if (!parts || event.detail.xhr.status !== 400) return;
    var page = new DOMParser().parseFromString(event.detail.xhr.responseText, "text/html");
    var hint = page.getElementById("error-hint");
    var reason = hint ? hint.textContent.trim() : "These filters cannot be used.";
    say(parts, reason.charAt(0).toUpperCase() + reason.slice(1), []);
  });

  function narrow(find) {
    var box = find.closest("[data-choices]");
    var words = find.value.trim().toLowerCase();
    var shown = 0;
    box.querySelectorAll(".choices-list label").forEach(function (label) {
      var match = !words || label.textContent.toLowerCase().indexOf(words) >= 0;
      label.hidden = !match;
      if (match) shown += 1;
    });
    box.querySelector("[data-choices-none]").hidden = shown > 0;
  }

  document.querySelectorAll("[data-date-range]").forEach(function (box) {
    if (box.closest("form")) sync(rangeParts(box.closest("form")));
  });
})();
