// Tell the server the browser's time zone, so dates and times show in the user's own.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone) return;
    var current = document.cookie.split("; ").find(function (c) { return c.indexOf("tend_tz=") === 0; });
    if (current !== "tend_tz=" + encodeURIComponent(zone)) {
      document.cookie = "tend_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* an old browser keeps the server's time zone */ }
})();
