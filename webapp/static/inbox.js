// The inbox's alerts: the count in the page title and the menu, and a browser notification for
// each conversation that starts calling for a person while the page is open. Permission is asked
// only when the agent clicks "Turn on notifications" (browsers ignore or penalise asking on load).
(function () {
  "use strict";
  var seen = null;
  var baseTitle = document.title.replace(/^\(\d+\) /, "");

  function alertsElement() {
    return document.getElementById("inbox-alerts");
  }

  function alertIds(element) {
    var raw = element.getAttribute("data-ids") || "";
    return raw.split(" ").filter(function (id) { return id !== ""; });
  }

  function showCount(count) {
    document.title = (count > 0 ? "(" + count + ") " : "") + baseTitle;
    var link = document.querySelector('header.top nav a[href$="/inbox"]');
    if (!link) {
      return;
    }
    var badge = link.querySelector(".badge");
    if (count > 0) {
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "badge";
        link.appendChild(document.createTextNode(" "));
        link.appendChild(badge);
      }
      badge.textContent = String(count);
    } else if (badge) {
      badge.remove();
    }
  }

  function notify(ids) {
    var button = document.getElementById("inbox-notify");
    if (!("Notification" in window) || Notification.permission !== "granted" || !button) {
      return;
    }
    ids.forEach(function (id) {
      var note = new Notification(button.getAttribute("data-title"), {
        body: button.getAttribute("data-body"),
        tag: "recado-conversation-" + id,
      });
      note.onclick = function () {
        window.focus();
        var row = document.querySelector("#conversation-" + id + " a");
        if (row) {
          window.location.href = row.href;
        }
      };
    });
  }

  function update() {
    var element = alertsElement();
    if (!element) {
      return;
    }
    var ids = alertIds(element);
    showCount(parseInt(element.getAttribute("data-count") || "0", 10));
    if (seen !== null) {
      notify(ids.filter(function (id) { return seen.indexOf(id) < 0; }));
    }
    // What was on screen when the page opened needs no notification: the agent sees it.
    seen = ids;
  }

  function offerNotifications() {
    var button = document.getElementById("inbox-notify");
    if (!button || !("Notification" in window) || Notification.permission !== "default") {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      Notification.requestPermission().then(function () {
        button.hidden = true;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    offerNotifications();
    update();
  });
  document.addEventListener("htmx:afterSettle", update);
})();
