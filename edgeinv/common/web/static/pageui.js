/* edgeinv page widgets (offline, no dependencies, no inline handlers: CSP script-src 'self').
   - svg.plot[data-zoom]: drag across the plot to zoom its x axis (the page reloads with ?<name>=lo,hi,
     drawn by the server so ticks and labels stay right); double-click or the "full range" link resets.
   - table.data[data-sortable]: click a column header to sort (numbers as numbers; empty cells last).
   - [data-export-table="<table id>"]: download that table as CSV (what is shown, in its current order).
   - input[type=range][data-opacity-for="<img id>"]: the image's opacity follows the slider. */
(function () {
  "use strict";

  function withParam(name, value) {
    var url = new URL(window.location.href);
    if (value === null) url.searchParams.delete(name); else url.searchParams.set(name, value);
    return url.toString();
  }

  function svgX(svg, evt) {
    var box = svg.getBoundingClientRect();
    var vb = svg.viewBox.baseVal;
    return (evt.clientX - box.left) * (vb && vb.width ? vb.width / box.width : 1);
  }

  function initZoom(svg) {
    var name = svg.getAttribute("data-zoom");
    var x0 = parseFloat(svg.getAttribute("data-x0")), x1 = parseFloat(svg.getAttribute("data-x1"));
    var left = parseFloat(svg.getAttribute("data-left")), pw = parseFloat(svg.getAttribute("data-pw"));
    var top = parseFloat(svg.getAttribute("data-top")), ph = parseFloat(svg.getAttribute("data-ph"));
    if (!name || !isFinite(x0) || !isFinite(x1) || !(pw > 0)) return;
    var start = null, band = null;
    var toData = function (px) { return x0 + (Math.min(Math.max(px, left), left + pw) - left) / pw * (x1 - x0); };
    svg.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) return;
      start = svgX(svg, e);
      band = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      band.setAttribute("class", "zoom-band");
      band.setAttribute("y", top); band.setAttribute("height", ph);
      band.setAttribute("x", start); band.setAttribute("width", 0);
      svg.appendChild(band);
      if (svg.setPointerCapture) svg.setPointerCapture(e.pointerId);
    });
    svg.addEventListener("pointermove", function (e) {
      if (start === null || !band) return;
      var x = svgX(svg, e);
      band.setAttribute("x", Math.min(start, x)); band.setAttribute("width", Math.abs(x - start));
    });
    svg.addEventListener("pointerup", function (e) {
      if (start === null) return;
      var end = svgX(svg, e), moved = Math.abs(end - start);
      var a = toData(Math.min(start, end)), b = toData(Math.max(start, end));
      start = null;
      if (band) { band.remove(); band = null; }
      if (moved > 4 && b - a > (x1 - x0) / 200) {
        var anchor = svg.closest("[id]");
        window.location.assign(withParam(name, a.toPrecision(5) + "," + b.toPrecision(5)) + (anchor ? "#" + anchor.id : ""));
      }
    });
    svg.addEventListener("dblclick", function () {
      if (svg.hasAttribute("data-zoomed")) window.location.assign(withParam(name, null));
    });
  }

  function cellValue(row, idx) {
    var cell = row.cells[idx];
    if (!cell) return { empty: true };
    var raw = cell.getAttribute("data-value");
    var text = (raw !== null ? raw : cell.textContent).trim();
    var num = parseFloat(text.replace(/[\u2212]/g, "-").replace(/[^0-9eE+\-.]/g, ""));
    return { empty: text === "" || text === "–" || text === "n/a", text: text,
             num: /^[\s\u2212+\-]?[0-9.]/.test(text) && isFinite(num) ? num : NaN };
  }

  function initSort(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, idx) {
      th.setAttribute("aria-sort", "none");
      th.tabIndex = 0;
      var sort = function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var a = cellValue(r1, idx), b = cellValue(r2, idx);
          if (a.empty || b.empty) return a.empty === b.empty ? 0 : a.empty ? 1 : -1;
          var c = !isNaN(a.num) && !isNaN(b.num) ? a.num - b.num : a.text.localeCompare(b.text);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  }

  function csvOf(table) {
    var quote = function (s) { s = s.replace(/\s+/g, " ").trim(); return /[",\n;]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
    return Array.prototype.map.call(table.rows, function (r) {
      return Array.prototype.map.call(r.cells, function (c) {
        var v = c.getAttribute("data-value");
        return quote(v !== null ? v : c.textContent);
      }).join(",");
    }).join("\r\n") + "\r\n";
  }

  function initExport(btn) {
    btn.addEventListener("click", function (e) {
      var table = document.getElementById(btn.getAttribute("data-export-table"));
      if (!table) return;
      e.preventDefault();
      var a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob(["\ufeff" + csvOf(table)], { type: "text/csv;charset=utf-8" }));
      a.download = btn.getAttribute("data-filename") || "table.csv";
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
    });
  }

  function initOpacity(input) {
    var img = document.getElementById(input.getAttribute("data-opacity-for"));
    var out = input.id ? document.querySelector('output[for="' + input.id + '"]') : null;
    var apply = function () {
      if (img) img.style.opacity = String(input.value / 100);
      if (out) out.textContent = input.value + " %";
    };
    input.addEventListener("input", apply);
    apply();
  }

  document.querySelectorAll("svg.plot[data-zoom]").forEach(initZoom);
  document.querySelectorAll("table.data[data-sortable]").forEach(initSort);
  document.querySelectorAll("[data-export-table]").forEach(initExport);
  document.querySelectorAll('input[type="range"][data-opacity-for]').forEach(initOpacity);
})();
