// Index page: filter, sort and page through every document of the run.
// Rows come from index-data.js and are written as text nodes, never as HTML.
(function () {
  "use strict";
  var data = window.REVIEW_INDEX;
  if (!data) return;
  var C = {};
  data.columns.forEach(function (name, k) { C[name] = k; });
  var rows = data.rows;
  var worstRank = new Array(rows.length);
  data.worst.forEach(function (pos, rank) { worstRank[pos] = rank; });
  var state = { page: 0, sort: "order", dir: 1 };
  var $ = function (id) { return document.getElementById(id); };
  var body = $("rows");

  function grounding(r) { return r[C.evidence] ? r[C.grounded] / r[C.evidence] : 1; }
  var keys = {
    order: function (k) { return k; },
    worst: function (k) { return worstRank[k]; },
    id: function (k) { return rows[k][C.id]; },
    status: function (k) { return rows[k][C.status]; },
    incidents: function (k) { return -rows[k][C.incidents]; },
    grounding: function (k) { return grounding(rows[k]); },
    ungrounded: function (k) { return -rows[k][C.ungrounded]; },
    rejected: function (k) { return -rows[k][C.rejected]; },
    f1: function (k) { var f = rows[k][C.f1]; return f === null ? 2 : f; }
  };

  function selected() {
    var failed = $("f-failed").checked, ungrounded = $("f-ungrounded").checked, rejected = $("f-rejected").checked;
    var worst = parseInt($("f-worst").value, 10) || 0;
    var needle = $("f-id").value.trim().toLowerCase();
    var out = [];
    for (var k = 0; k < rows.length; k++) {
      var r = rows[k];
      if (failed && r[C.status] !== "failed") continue;
      if (ungrounded && !(r[C.ungrounded] > 0)) continue;
      if (rejected && !(r[C.rejected] > 0)) continue;
      if (worst && worstRank[k] >= worst) continue;
      if (needle && r[C.id].toLowerCase().indexOf(needle) < 0) continue;
      out.push(k);
    }
    var key = keys[state.sort] || keys.order, dir = state.dir;
    out.sort(function (a, b) {
      var x = key(a), y = key(b);
      return x < y ? -dir : x > y ? dir : a - b;
    });
    return out;
  }

  function cell(tr, text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }

  function render() {
    var picked = selected();
    var size = data.pageSize || 100;
    var pages = Math.max(1, Math.ceil(picked.length / size));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * size, end = Math.min(picked.length, start + size);
    var frag = document.createDocumentFragment();
    for (var n = start; n < end; n++) {
      var r = rows[picked[n]];
      var tr = document.createElement("tr");
      tr.className = "st-" + r[C.status];
      tr.setAttribute("data-id", r[C.id]);
      var a = document.createElement("a");
      a.href = "docs/" + encodeURIComponent(r[C.page]);
      a.textContent = r[C.id];
      var td = document.createElement("td"); td.appendChild(a); tr.appendChild(td);
      cell(tr, r[C.status]);
      cell(tr, r[C.incidents]);
      cell(tr, r[C.grounded] + "/" + r[C.evidence]);
      cell(tr, r[C.ungrounded]);
      cell(tr, r[C.rejected]);
      cell(tr, r[C.failure]);
      if (data.gold) {
        cell(tr, r[C.f1] === null ? "–" : r[C.f1].toFixed(2));
        cell(tr, r[C.detection] ? r[C.detection].join(" / ") : "");
      }
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    $("shown").textContent = picked.length
      ? (start + 1) + "–" + end + " of " + picked.length + " (" + rows.length + " in the run)"
      : "no documents match (" + rows.length + " in the run)";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }

  ["f-failed", "f-ungrounded", "f-rejected", "f-worst", "f-id"].forEach(function (id) {
    $(id).addEventListener("input", function () { state.page = 0; render(); });
  });
  $("f-sort").addEventListener("change", function () { state.sort = this.value; state.dir = 1; state.page = 0; render(); });
  $("f-worst").addEventListener("change", function () {
    if (this.value !== "0") { state.sort = "worst"; state.dir = 1; $("f-sort").value = "worst"; render(); }
  });
  $("prev").addEventListener("click", function () { state.page -= 1; render(); });
  $("next").addEventListener("click", function () { state.page += 1; render(); });
  document.querySelectorAll("th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () {
      var s = th.getAttribute("data-sort");
      state.dir = state.sort === s ? -state.dir : 1;
      state.sort = s;
      $("f-sort").value = keys[s] && $("f-sort").querySelector("option[value='" + s + "']") ? s : $("f-sort").value;
      document.querySelectorAll("th.sorted").forEach(function (h) { h.classList.remove("sorted"); });
      th.classList.add("sorted");
      state.page = 0;
      render();
    });
  });
  $("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  render();
})();
