// Rotating insights (templates/dashboard/_insights.html): one insight at a time, the next every
// data-rotate-seconds, with Pause/Play, Previous and Next. Following the WAI-ARIA carousel pattern,
// the list is not announced while it rotates on its own (aria-live off) and is announced politely
// once the person pauses or steps through it. Rotation also holds while the pointer or keyboard
// focus is on the insight itself (to read it or follow its link); the buttons do exactly what they
// say. With prefers-reduced-motion, nothing rotates and all insights show.
(function () {
  var reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  var pausedByPerson = false; // kept when htmx replaces the block (filters changed)

  function start(section) {
    if (section.dataset.rotateReady || reducedMotion.matches) return;
    var list = section.querySelector(".insights");
    var items = list ? list.querySelectorAll(".insight") : [];
    var controls = section.querySelector("[data-rotate-controls]");
    if (items.length < 2 || !controls) return;
    section.dataset.rotateReady = "true";
    var seconds = Number(section.dataset.rotateSeconds) || 6;
    var toggle = section.querySelector("[data-rotate-toggle]");
    var label = section.querySelector("[data-rotate-label]");
    var position = section.querySelector("[data-rotate-position]");
    var current = 0;
    var hovered = false;
    var focused = false;
    var timer = null;

    function show(index) {
      current = (index + items.length) % items.length;
      items.forEach(function (item, i) { item.hidden = i !== current; });
      position.textContent = (current + 1) + " of " + items.length;
    }
    function rotating() { return !pausedByPerson && !hovered && !focused; }
    function schedule() {
      window.clearInterval(timer);
      timer = null;
      list.setAttribute("aria-live", rotating() ? "off" : "polite");
      label.textContent = pausedByPerson ? "Play" : "Pause";
      toggle.setAttribute("aria-pressed", pausedByPerson ? "true" : "false");
      if (!rotating()) return;
      timer = window.setInterval(function () {
        if (!document.body.contains(section)) { window.clearInterval(timer); return; }
        show(current + 1);
      }, seconds * 1000);
    }
    function step(by) {
      pausedByPerson = true; // a person choosing an insight wants it to stay
      schedule();
      show(current + by);
    }

    toggle.addEventListener("click", function () { pausedByPerson = !pausedByPerson; schedule(); });
    section.querySelector("[data-rotate-previous]").addEventListener("click", function () { step(-1); });
    section.querySelector("[data-rotate-next]").addEventListener("click", function () { step(1); });
    list.addEventListener("mouseenter", function () { hovered = true; schedule(); });
    list.addEventListener("mouseleave", function () { hovered = false; schedule(); });
    list.addEventListener("focusin", function () { focused = true; schedule(); });
    list.addEventListener("focusout", function (event) { focused = list.contains(event.relatedTarget); schedule(); });
    controls.hidden = false;
    show(0);
    schedule();
  }

  function startAll(root) {
    if (root.matches && root.matches("[data-rotate]")) start(root);
    if (root.querySelectorAll) root.querySelectorAll("[data-rotate]").forEach(start);
  }
  document.addEventListener("DOMContentLoaded", function () { startAll(document); });
  document.addEventListener("htmx:load", function (event) { startAll(event.detail.elt); });
})();
