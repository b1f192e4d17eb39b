// alttext serve: small enhancements; every page works without this file.
"use strict";

(function () {
  // The character counter of an alt text editor.
  function counter(textarea) {
    const output = document.getElementById("alt_count");
    if (!output) return;
    const target = Number(textarea.dataset.target || 125);
    const max = Number(textarea.dataset.max || 250);
    let timer = null;
    function update() {
      const n = textarea.value.length;
      let text = n + " characters (aim for " + target + ", at most " + max + ")";
      if (n > max) text = n + " characters: " + (n - max) + " over the limit of " + max;
      else if (n > target) text = n + " characters: longer than the " + target + " aimed for";
      output.classList.toggle("over", n > max);
      // Screen readers hear the count when typing pauses, not after every key.
      clearTimeout(timer);
      timer = setTimeout(function () { output.textContent = text; }, 400);
    }
    textarea.addEventListener("input", update);
  }

  function enterSubmits(textarea) {
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey
          && !event.isComposing) {
        event.preventDefault();
        if (textarea.form) textarea.form.requestSubmit();
      }
    });
  }

  // The review page's keys: a accept, e edit, s skip, u undo. Enter alone never approves.
  function reviewKeys() {
    if (!document.querySelector("[data-review-keys]")) return;
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.isComposing) return;
      const target = event.target;
      if (target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]")) {
        if (event.key === "Escape" && target instanceof HTMLTextAreaElement) target.blur();
        return;
      }
      const key = event.key.toLowerCase();
      if (key === "e") {
        const textarea = document.getElementById("alt_text");
        if (textarea) {
          event.preventDefault();
          textarea.focus();
          textarea.setSelectionRange(textarea.value.length, textarea.value.length);
        }
        return;
      }
      const control = document.querySelector('[data-key="' + key + '"]');
      if (!control) return;
      event.preventDefault();
      control.click();
    });
  }

  function copyButtons() {
    if (!navigator.clipboard) return;
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        const source = document.getElementById(button.dataset.copy);
        if (!source) return;
        const label = button.textContent;
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = label; }, 2000);
        }, function () {
          button.textContent = "Copy failed";
        });
      });
    });
  }

  function dropzone() {
    const zone = document.querySelector("[data-dropzone]");
    if (!zone) return;
    const input = zone.querySelector("input[type=file]");
    const chosen = zone.querySelector("[data-chosen]");
    function say() {
      if (chosen && input.files) {
        const n = input.files.length;
        chosen.textContent = n ? n + (n === 1 ? " picture chosen" : " pictures chosen") : "";
      }
    }
    input.addEventListener("change", say);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        say();
      }
    });
  }

  function statusPoll() {
    const section = document.querySelector("[data-status-poll]");
    if (!section) return;
    const url = section.dataset.statusPoll;
    function lookup(data, path) {
      return path.split(".").reduce(function (value, key) { return value == null ? value : value[key]; }, data);
    }
    function poll() {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) return;
          section.querySelectorAll("[data-stat]").forEach(function (element) {
            const value = lookup(data, element.dataset.stat);
            if (value != null && String(value) !== element.textContent) element.textContent = String(value);
          });
        })
        .catch(function () { /* the next poll tries again */ });
    }
    setInterval(poll, 5000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-alt-editor] textarea").forEach(function (textarea) {
      counter(textarea);
      if (textarea.hasAttribute("data-enter-submits")) enterSubmits(textarea);
    });
    reviewKeys();
    copyButtons();
    dropzone();
    statusPoll();
  });
})();
