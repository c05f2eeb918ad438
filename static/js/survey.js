/*
 * Power Climate survey: one section per page, conditional questions, and a draft kept only in
 * this browser. Without this script the survey is one long page that works on its own.
 *
 * Privacy: the draft goes to localStorage under the key the page gives (data-draft-key) and
 * nowhere else; this script makes no network request. The thank-you page carries
 * data-clear-draft with the same key, and the draft is deleted there.
 * No inline script anywhere (CSP script-src 'self'): everything comes from data-* attributes.
 */
(function () {
  "use strict";

  var storage = (function () {
    try {
      var probe = "powerclimate-probe";
      window.localStorage.setItem(probe, probe);
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (error) {
      return null; // private mode or storage disabled: no draft, the survey still works
    }
  })();

  function clearDraft(key) {
    if (storage && key) {
      try { storage.removeItem(key); } catch (error) { /* nothing to do */ }
    }
  }

  document.querySelectorAll("[data-clear-draft]").forEach(function (element) {
    clearDraft(element.getAttribute("data-clear-draft"));
  });

  var form = document.querySelector("form[data-survey]");
  if (!form) { return; }

  var draftKey = form.getAttribute("data-draft-key") || "";
  var hasErrors = form.getAttribute("data-has-errors") === "true";
  var sections = Array.prototype.slice.call(form.querySelectorAll("[data-section]"));
  var questions = Array.prototype.slice.call(form.querySelectorAll("[data-question]"));
  var backButton = form.querySelector("[data-action=back]");
  var nextButton = form.querySelector("[data-action=next]");
  var submitButton = form.querySelector("[data-action=submit]");
  var clearButton = form.querySelector("[data-action=clear-draft]");
  var draftStatus = form.querySelector("[data-draft-status]");
  var progress = document.querySelector("[data-progress]");
  var paged = !hasErrors && sections.length > 1;
  var current = 0;

  form.classList.add("has-js");

  // --- Values -------------------------------------------------------------------------------

  function fields() {
    return Array.prototype.filter.call(form.elements, function (element) {
      return element.name && element.type !== "hidden" && element.type !== "submit" &&
        element.type !== "button";
    });
  }

  function chosenValues(container) {
    var values = [];
    container.querySelectorAll("input:checked").forEach(function (input) {
      var number = parseInt(input.value, 10);
      if (!isNaN(number)) { values.push(number); }
    });
    return values;
  }

  function readDraft() {
    var draft = {};
    fields().forEach(function (element) {
      if (element.disabled) { return; }
      if (element.type === "radio" || element.type === "checkbox") {
        if (!draft[element.name]) { draft[element.name] = []; }
        if (element.checked) { draft[element.name].push(element.value); }
      } else if (element.value) {
        draft[element.name] = element.value;
      }
    });
    return draft;
  }

  function restoreDraft() {
    if (!storage || !draftKey || hasErrors) { return false; }
    var draft;
    try { draft = JSON.parse(storage.getItem(draftKey) || "null"); } catch (error) { draft = null; }
    if (!draft || typeof draft !== "object") { return false; }
    fields().forEach(function (element) {
      if (!Object.prototype.hasOwnProperty.call(draft, element.name)) { return; }
      var saved = draft[element.name];
      if (element.type === "radio" || element.type === "checkbox") {
        element.checked = Array.isArray(saved) && saved.indexOf(element.value) !== -1;
      } else if (typeof saved === "string") {
        element.value = saved;
      }
    });
    return true;
  }

  var saveTimer = null;
  var announced = false;
  function saveDraft() {
    if (!storage || !draftKey) { return; }
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(function () {
      try {
        storage.setItem(draftKey, JSON.stringify(readDraft()));
      } catch (error) {
        return; // storage full: the survey still works without a draft
      }
      if (draftStatus && !announced) {
        draftStatus.textContent = draftStatus.getAttribute("data-saved-text") ||
          form.getAttribute("data-saved-text") || "";
        announced = true;
      }
    }, 250);
  }

  // --- Conditional questions ------------------------------------------------------------------

  function setShown(question, shown) {
    question.hidden = !shown;
    question.querySelectorAll("input, textarea, select").forEach(function (input) {
      input.disabled = !shown; // an answer to a hidden question is not sent
    });
  }

  function applyConditions() {
    var chosen = {};
    questions.forEach(function (question) {
      var rule = question.getAttribute("data-show-if");
      var shown = true;
      if (rule) {
        var conditions;
        try { conditions = JSON.parse(rule); } catch (error) { conditions = []; }
        shown = conditions.some(function (condition) {
          var values = chosen[condition.question] || [];
          return values.some(function (value) { return condition.values.indexOf(value) !== -1; });
        });
      }
      setShown(question, shown);
      chosen[question.getAttribute("data-question")] = shown ? chosenValues(question) : [];
    });
  }

  // --- Pages ----------------------------------------------------------------------------------

  function hasVisibleQuestion(section) {
    return Array.prototype.some.call(section.querySelectorAll(".question"), function (question) {
      return !question.hidden;
    });
  }

  function visiblePages() {
    return sections.filter(hasVisibleQuestion);
  }

  function updateProgress() {
    if (!progress) { return; }
    var pages = visiblePages();
    var position = Math.max(pages.indexOf(sections[current]), 0) + 1;
    var label = (form.getAttribute("data-page-label") || "%(n)s / %(total)s")
      .replace("%(n)s", String(position)).replace("%(total)s", String(pages.length));
    var percent = Math.round((position / pages.length) * 100);
    progress.hidden = false;
    progress.querySelector("[data-progress-text]").textContent = label;
    var bar = progress.querySelector("[role=progressbar]");
    bar.setAttribute("aria-valuenow", String(percent));
    bar.setAttribute("aria-valuetext", label);
    progress.querySelector("[data-progress-bar]").style.width = percent + "%";
  }

  function neighbour(step) {
    for (var index = current + step; index >= 0 && index < sections.length; index += step) {
      if (hasVisibleQuestion(sections[index])) { return index; }
    }
    return -1;
  }

  function showPage(index, moveFocus) {
    current = index;
    sections.forEach(function (section, i) { section.hidden = i !== index; });
    backButton.hidden = neighbour(-1) === -1;
    var last = neighbour(1) === -1;
    nextButton.hidden = last;
    submitButton.hidden = !last;
    updateProgress();
    if (moveFocus) {
      // A new page, not a scroll within one: jump, then let the heading announce it.
      form.scrollIntoView({ block: "start", behavior: "instant" });
      var heading = sections[index].querySelector(".section-title");
      if (heading) { heading.focus({ preventScroll: true }); }
    }
  }

  function missingRequired(section) {
    var missing = [];
    section.querySelectorAll("[data-required]").forEach(function (group) {
      var select = group.querySelector("select");
      var answered = select ? select.value !== "" : group.querySelector("input:checked") !== null;
      var note = group.querySelector("[data-js-error]");
      if (!answered) {
        missing.push(group);
        if (!note) {
          note = document.createElement("p");
          note.className = "invalid-feedback d-block";
          note.setAttribute("data-js-error", "");
          note.textContent = form.getAttribute("data-required-text") || "";
          var label = group.querySelector("legend, label");
          label.parentNode.insertBefore(note, label.nextSibling);
        }
      } else if (note) {
        note.parentNode.removeChild(note);
      }
    });
    return missing;
  }

  function goNext() {
    var missing = missingRequired(sections[current]);
    if (missing.length) {
      var first = missing[0].querySelector("select, input");
      if (first) { first.focus(); }
      return;
    }
    var next = neighbour(1);
    if (next !== -1) { showPage(next, true); }
  }

  // --- Wiring ---------------------------------------------------------------------------------

  restoreDraft();
  applyConditions();

  if (clearButton && storage && draftKey) {
    clearButton.hidden = false;
    clearButton.addEventListener("click", function () {
      clearDraft(draftKey);
      fields().forEach(function (element) {
        if (element.type === "radio" || element.type === "checkbox") {
          element.checked = false;
        } else {
          element.value = "";
        }
      });
      applyConditions();
      if (paged) { showPage(0, true); }
      if (draftStatus) { draftStatus.textContent = form.getAttribute("data-cleared-text") || ""; }
      announced = false;
    });
  }

  form.addEventListener("change", function () {
    applyConditions();
    if (paged) { showPage(current, false); }
    saveDraft();
  });
  form.addEventListener("input", saveDraft);

  if (paged) {
    form.classList.add("is-paged");
    backButton.addEventListener("click", function () {
      var previous = neighbour(-1);
      if (previous !== -1) { showPage(previous, true); }
    });
    nextButton.addEventListener("click", goNext);
    showPage(0, false);
  } else if (hasErrors) {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  var sending = false;
  form.addEventListener("submit", function (event) {
    if (paged && neighbour(1) !== -1) {
      // Enter pressed inside a field before the last page: go on instead of sending.
      event.preventDefault();
      goNext();
      return;
    }
    if (sending) {
      event.preventDefault(); // a double click sends once (the server also stores only one)
      return;
    }
    sending = true;
    window.setTimeout(function () { submitButton.disabled = true; }, 0);
    window.setTimeout(function () { sending = false; submitButton.disabled = false; }, 10000);
  });
})();
