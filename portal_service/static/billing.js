// Billing buttons: a plain form post works without this; with it, the clicked
// button shows it is working and cannot be pressed twice.
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-opens]")) return;
    var button = event.submitter || form.querySelector("button");
    if (!button || button.disabled) { event.preventDefault(); return; }
    button.dataset.label = button.textContent;
    button.textContent = "Opening\u2026";
    button.setAttribute("aria-busy", "true");
    // Disable after the submission has captured the button's value.
    setTimeout(function () { button.disabled = true; }, 0);
  });
  // Back from Stripe via the browser's history: the page may come from the
  // back-forward cache with the button still busy.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[aria-busy]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (button.dataset.label) button.textContent = button.dataset.label;
    });
  });
})();
