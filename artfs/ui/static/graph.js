// Pan and zoom for the lineage graph (artfs's own, no library): the SVG that Graphviz
// drew is shown through its viewBox; dragging moves it, the wheel zooms around the
// pointer, "fit" shows it whole.  Without JavaScript the page shows the same SVG in a
// scrolling box, and its node links work either way.
(function () {
  "use strict";
  var box = document.getElementById("graph");
  var svg = box && box.querySelector("svg");
  if (!svg) return;
  var full = svg.viewBox.baseVal;
  var whole = { x: full.x, y: full.y, w: full.width, h: full.height };
  var view = { x: whole.x, y: whole.y, w: whole.w, h: whole.h };
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  box.classList.add("js");
  var tools = document.querySelector(".graph-tools");
  if (tools) tools.hidden = false;

  function show() {
    svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" "));
  }
  function fit() {
    // the whole drawing, but never scaled up past its natural size
    var r = box.getBoundingClientRect();
    var scale = Math.max(whole.w / r.width, whole.h / r.height, 1);
    view.w = r.width * scale;
    view.h = r.height * scale;
    view.x = whole.x - (view.w - whole.w) / 2;
    view.y = whole.y - (view.h - whole.h) / 2;
    show();
  }
  function point(evt) {
    var r = box.getBoundingClientRect();
    return { x: view.x + (evt.clientX - r.left) / r.width * view.w,
             y: view.y + (evt.clientY - r.top) / r.height * view.h };
  }
  function zoom(factor, at) {
    var w = Math.min(Math.max(view.w * factor, 20), whole.w * 20);
    var f = w / view.w;
    view.x = at.x - (at.x - view.x) * f;
    view.y = at.y - (at.y - view.y) * f;
    view.w *= f;
    view.h *= f;
    show();
  }
  function centre() {
    return { x: view.x + view.w / 2, y: view.y + view.h / 2 };
  }

  box.addEventListener("wheel", function (evt) {
    evt.preventDefault();
    zoom(evt.deltaY > 0 ? 1.15 : 1 / 1.15, point(evt));
  }, { passive: false });

  var drag = null, moved = false;
  box.addEventListener("pointerdown", function (evt) {
    drag = { x: evt.clientX, y: evt.clientY, vx: view.x, vy: view.y };
    moved = false;
  });
  window.addEventListener("pointermove", function (evt) {
    if (!drag) return;
    var dx = evt.clientX - drag.x, dy = evt.clientY - drag.y;
    if (!moved && Math.abs(dx) + Math.abs(dy) < 4) return;  // a click, not a drag
    moved = true;
    box.classList.add("dragging");
    var r = box.getBoundingClientRect();
    view.x = drag.vx - dx / r.width * view.w;
    view.y = drag.vy - dy / r.height * view.h;
    show();
  });
  window.addEventListener("pointerup", function () {
    drag = null;
    box.classList.remove("dragging");
  });
  // a drag that ends on a node must not open it
  box.addEventListener("click", function (evt) {
    if (moved) { evt.preventDefault(); evt.stopPropagation(); moved = false; }
  }, true);

  document.querySelectorAll("[data-zoom]").forEach(function (button) {
    button.addEventListener("click", function () {
      var how = button.getAttribute("data-zoom");
      if (how === "fit") fit(); else zoom(how === "in" ? 1 / 1.4 : 1.4, centre());
    });
  });

  // find: outline the nodes whose text holds the words, and centre on the first
  var find = document.getElementById("graph-find");
  if (find) find.addEventListener("input", function () {
    var words = find.value.trim().toLowerCase(), first = null;
    svg.querySelectorAll("g.node").forEach(function (node) {
      var hit = words !== "" && node.textContent.toLowerCase().indexOf(words) >= 0;
      node.classList.toggle("found", hit);
      if (hit && !first) first = node;
    });
    if (first) {
      var b = first.getBBox();
      var m = first.getCTM(), root = svg.getCTM();
      // node coordinates are inside Graphviz's transformed group: map them to the viewBox
      var p = svg.createSVGPoint();
      p.x = b.x + b.width / 2; p.y = b.y + b.height / 2;
      var q = p.matrixTransform(root.inverse().multiply(m));
      view.x = q.x - view.w / 2;
      view.y = q.y - view.h / 2;
      show();
    }
  });

  fit();
  window.addEventListener("resize", fit);
})();
