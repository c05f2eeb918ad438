/*
 * Power Climate dashboard: draws the server-built Plotly figures and wires a few controls.
 *
 * Each chart container carries data-figure="<id of a json_script element>" holding the figure
 * (data and layout, built on the server from guarded figures). No inline script anywhere
 * (CSP script-src 'self'); plotly.js is served by the app itself. Without JavaScript every
 * chart still has its data table.
 */
(function () {
  "use strict";

  var CONFIG = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"]
  };

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-figure"));
    if (!source || !window.Plotly) {
      return;
    }
    var figure = JSON.parse(source.textContent);
    var layout = figure.layout || {};
    layout.height = parseInt(element.getAttribute("data-height"), 10) || 420;
    layout.autosize = true;
    var config = Object.assign({}, CONFIG, {
      toImageButtonOptions: { filename: element.id, format: "png", scale: 2 }
    });
    if (element.getAttribute("data-static") === "true") {
      config.staticPlot = true;
      config.responsive = false;
    }
    window.Plotly.newPlot(element, figure.data || [], layout, config).then(function () {
      element.setAttribute("data-rendered", "true");
    });
  }

  document.querySelectorAll("[data-figure]").forEach(draw);

  // Pickers: show the chosen wave or unit at once (the Show button stays for keyboards).
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.submit();
    });
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () {
      window.print();
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  // Printing: static charts are drawn at screen width; let Plotly fit them to the page.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("[data-rendered]").forEach(function (element) {
      window.Plotly.Plots.resize(element);
    });
  });
})();
