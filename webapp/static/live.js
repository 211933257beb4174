// Live updates: when <body data-live="URL">, an EventSource on it turns each server event into a
// DOM event on document.body, "live:" + kind with the JSON data as detail (live:message,
// live:status, live:conversation), for htmx triggers such as
// hx-trigger="live:message from:body".
//
// The server ends each stream every few seconds with a "bye" event (webapp/live/stream.py); the
// browser reconnects by itself and sends Last-Event-ID, so nothing is missed and pages need not
// refresh. Any other loss of the stream, or a server that says the page is too far behind
// ("reset"), dispatches live:reconnected once the stream is back: pages refresh what they show.
(function () {
  var url = document.body && document.body.dataset.live;
  if (!url || !window.EventSource) {
    return;
  }
  var source = new EventSource(url);
  var planned = false;
  var lost = false;

  function dispatch(kind, detail) {
    document.body.dispatchEvent(new CustomEvent("live:" + kind, { detail: detail }));
  }

  function relay(kind) {
    source.addEventListener(kind, function (event) {
      var detail;
      try {
        detail = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      dispatch(kind, detail);
    });
  }

  ["message", "status", "conversation"].forEach(relay);
  source.addEventListener("bye", function () {
    planned = true;
  });
  source.addEventListener("reset", function () {
    dispatch("reconnected", {});
  });
  source.addEventListener("open", function () {
    if (lost) {
      dispatch("reconnected", {});
    }
    planned = false;
    lost = false;
  });
  source.addEventListener("error", function () {
    if (!planned) {
      lost = true;
    }
  });
})();
