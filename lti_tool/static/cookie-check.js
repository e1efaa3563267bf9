// Runs on the login page when it is shown inside Canvas's frame: continue to Canvas only if this
// frame may keep cookies; otherwise offer to continue in a new tab, where it can.
(function () {
  var box = document.getElementById("cookie-check");
  if (!box) return;
  var name = "ma_cookie_probe";
  var secure = window.location.protocol === "https:";
  document.cookie = name + "=1; path=/" + (secure ? "; SameSite=None; Secure; Partitioned" : "; SameSite=Lax");
  var ok = navigator.cookieEnabled && document.cookie.indexOf(name + "=1") !== -1;
  document.cookie = name + "=; Max-Age=0; path=/" + (secure ? "; SameSite=None; Secure; Partitioned" : "");
  if (ok) {
    window.location.replace(box.getAttribute("data-authorize-url"));
  } else {
    box.querySelector(".checking").hidden = true;
    box.querySelector(".blocked").hidden = false;
  }
})();
