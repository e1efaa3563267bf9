// Runs on the login page when it is shown inside Canvas's frame: continue to Canvas only if this
// frame may keep cookies; otherwise offer to continue in a new tab, where it can.
(function () {
  var box = document.getElementById("cookie-check");
  if (!box) return;
  var name = "ma_cookie_probe";
  // The same attributes as the tool's own cookies (browsers treat loopback http as secure too).
  var attributes = "; path=/; SameSite=None; Secure; Partitioned";
  document.cookie = name + "=1" + attributes;
  var ok = navigator.cookieEnabled && document.cookie.indexOf(name + "=1") !== -1;
  document.cookie = name + "=; Max-Age=0" + attributes;
  if (ok) {
    window.location.replace(box.getAttribute("data-authorize-url"));
  } else {
    box.querySelector(".checking").hidden = true;
    box.querySelector(".blocked").hidden = false;
  }
})();
