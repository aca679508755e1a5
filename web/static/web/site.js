// clozrems pages: after htmx swaps an answer in, move the keyboard focus to it (the result of a
// dispense, or the form's first error), so a keyboard or screen-reader user lands on what
// changed. A file of its own: the CSP allows scripts from this site only.
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail.target;
  if (!target) { return; }
  var spot = target.querySelector("[data-focus-after-swap], [role=alert]");
  if (spot) {
    if (!spot.hasAttribute("tabindex")) { spot.setAttribute("tabindex", "-1"); }
    spot.focus();
  }
});
