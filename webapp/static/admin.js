// Every htmx request carries the CSRF token (also set by hx-headers on <body>, kept here for
// requests htmx makes from elements swapped in later).
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRFToken"] = meta.content;
  }
});
