// The reply composer (webapp/templates/compose/panel.html): quoting a message of the timeline,
// canned replies, Ctrl+Enter, the panel's refusals swapped in, the draft emptied once sent.
// Loaded by every render of the panel: it installs its listeners once.
(function () {
  if (window.recadoCompose) {
    return;
  }
  window.recadoCompose = true;

  function panelOf(element) {
    return element.closest(".composer") || document.querySelector(".composer");
  }

  function setQuote(panel, messageId, preview) {
    var form = panel && panel.querySelector(".composer-send");
    if (!form) {
      return;
    }
    var box = form.querySelector(".composer-quote");
    var limit = parseInt(form.querySelector("textarea").dataset.previewChars, 10) || 120;
    form.querySelector("input[name='reply_to_message_id']").value = messageId || "";
    // textContent: a customer's text is never read as HTML.
    box.querySelector(".composer-quote-text").textContent =
      preview && preview.length > limit ? preview.slice(0, limit) + "…" : preview || "";
    box.hidden = !messageId;
  }

  function insertAtCursor(textarea, text) {
    var start = textarea.selectionStart || 0;
    var end = textarea.selectionEnd || 0;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    textarea.selectionStart = textarea.selectionEnd = start + text.length;
    textarea.focus();
  }

  document.addEventListener("click", function (event) {
    var quote = event.target.closest("button.quote");
    if (quote) {
      var panel = panelOf(quote);
      setQuote(panel, quote.dataset.messageId, quote.dataset.preview);
      var textarea = panel && panel.querySelector(".composer-send textarea");
      if (textarea) {
        textarea.focus();
      }
      return;
    }
    if (event.target.closest(".composer-quote-cancel")) {
      setQuote(panelOf(event.target), "", "");
      return;
    }
    var canned = event.target.closest("button.canned");
    if (canned) {
      var form = canned.closest("form");
      insertAtCursor(form.querySelector("textarea[name='text']"), canned.dataset.body);
      canned.closest("details").open = false;
    }
  });

  // Ctrl+Enter (Cmd+Enter on a Mac) sends.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) {
      return;
    }
    var form = event.target.closest && event.target.closest("form.composer-send");
    if (form) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // A refusal (400/409) answers with the panel and its reason: show it rather than nothing.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.getResponseHeader("X-Recado-Panel")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A panel rendered after a send: the draft, kept across refreshes, has gone out.
  document.addEventListener("htmx:load", function (event) {
    var panel = event.target.closest && event.target.closest(".composer[data-sent]");
    if (!panel || panel !== event.target) {
      return;
    }
    var textarea = panel.querySelector(".composer-send textarea");
    if (textarea) {
      textarea.value = "";
    }
    setQuote(panel, "", "");
    panel.removeAttribute("data-sent");
  });
})();
