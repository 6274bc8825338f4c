// Document page: a value and its evidence span point at each other.
// Hover shows the link; a click pins it and scrolls the other side into view.
(function () {
  "use strict";
  var marksBySpan = {};
  var valuesBySpan = {};
  var marks = document.querySelectorAll("mark[data-s]");
  var values = document.querySelectorAll(".v[data-ev]");
  function ids(el, attr) { return el.getAttribute(attr).split(" ").filter(Boolean); }
  function index(map, key, el) { (map[key] = map[key] || []).push(el); }
  marks.forEach(function (m) { ids(m, "data-s").forEach(function (s) { index(marksBySpan, s, m); }); });
  values.forEach(function (v) { ids(v, "data-ev").forEach(function (s) { index(valuesBySpan, s, v); }); });

  function set(spans, cls, on) {
    spans.forEach(function (s) {
      (marksBySpan[s] || []).forEach(function (m) { m.classList.toggle(cls, on); });
      (valuesBySpan[s] || []).forEach(function (v) { v.classList.toggle(cls, on); });
    });
  }
  function clearPins() {
    document.querySelectorAll(".pin").forEach(function (el) { el.classList.remove("pin"); });
  }
  function reveal(el) { if (el) el.scrollIntoView({ block: "center", behavior: "auto" }); }
  // The spans of a mark, innermost first: a click on nested text picks the shortest span under it.
  function markSpans(m) {
    var all = ids(m, "data-s");
    return all.sort(function (a, b) { return (marksBySpan[a] || []).length - (marksBySpan[b] || []).length; });
  }

  values.forEach(function (v) {
    var spans = ids(v, "data-ev");
    v.addEventListener("mouseenter", function () { set(spans, "on", true); });
    v.addEventListener("mouseleave", function () { set(spans, "on", false); });
    function pick() {
      clearPins();
      set(spans, "pin", true);
      var first = spans.map(function (s) { return (marksBySpan[s] || [])[0]; }).filter(Boolean)[0];
      reveal(first);
    }
    v.addEventListener("click", pick);
    v.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
  });
  marks.forEach(function (m) {
    m.addEventListener("mouseenter", function () { set(markSpans(m).slice(0, 1), "on", true); });
    m.addEventListener("mouseleave", function () { set(ids(m, "data-s"), "on", false); });
    m.addEventListener("click", function () {
      clearPins();
      var spans = markSpans(m);
      var withValue = spans.filter(function (s) { return valuesBySpan[s]; });
      var chosen = (withValue.length ? withValue : spans).slice(0, 1);
      set(chosen, "pin", true);
      reveal((valuesBySpan[chosen[0]] || [])[0]);
    });
  });
})();
