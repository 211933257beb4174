// The conversation page: the live tail's cursor, no duplicate messages, and a scroll position
// that stays put when older messages load above and follows new ones at the bottom.
(function () {
  function timeline() {
    return document.getElementById("timeline");
  }

  // The id of the newest message shown: the live tail asks for what came after it.
  window.recadoTimelineTail = function () {
    var items = timeline().querySelectorAll("li[data-message-id]");
    return items.length ? items[items.length - 1].getAttribute("data-message-id") : "0";
  };

  // On a phone the lead and notes panels sit below the timeline: "the bottom" is the newest
  // message, not the end of the page.
  function showNewest() {
    var items = timeline().querySelectorAll("li[data-message-id]");
    if (items.length) {
      items[items.length - 1].scrollIntoView({ block: "end" });
    }
  }

  function newestInView() {
    return timeline().getBoundingClientRect().bottom - window.innerHeight < 150;
  }

  var followBottom = false;
  var fromBottom = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target === timeline()) {
      followBottom = newestInView();
    } else if (target.classList && target.classList.contains("older")) {
      fromBottom = document.scrollingElement.scrollHeight - document.scrollingElement.scrollTop;
    }
  });

  document.addEventListener("htmx:afterSwap", function () {
    var list = timeline();
    if (!list) {
      return;
    }
    // Two live events close together may fetch the same message twice: keep the first.
    var seen = {};
    list.querySelectorAll("li[data-message-id]").forEach(function (item) {
      var id = item.getAttribute("data-message-id");
      if (seen[id]) {
        item.remove();
      }
      seen[id] = true;
    });
    var empty = list.querySelector("li.empty");
    if (empty && list.querySelector("li[data-message-id]")) {
      empty.remove();
    }
    var page = document.scrollingElement;
    if (fromBottom !== null) {
      page.scrollTop = page.scrollHeight - fromBottom;
      fromBottom = null;
    } else if (followBottom) {
      showNewest();
      followBottom = false;
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (timeline() && !window.location.hash) {
      showNewest();
    }
  });
})();
