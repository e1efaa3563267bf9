// Submits a form that carries a protocol message (an OIDC step) as soon as the page loads.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-autosubmit]");
  if (form) form.submit();
});
