// "Back" links that return to the previous page with what was typed there
// intact (the browser's history), falling back to their href. An external
// file, not an inline handler: the Content-Security-Policy allows no inline script.
document.addEventListener("click", function (event) {
  var link = event.target.closest("a[data-history-back]");
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
