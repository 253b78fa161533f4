// QA review: zoom the image (buttons, + / - / 0 keys, ctrl + wheel), c / r to confirm or reject
// the next defect, n for the next inspection of the review queue (the server works out which when asked), and highlight a defect's box when its row is hovered. Served by Kensa: plants are often offline.
"use strict";
(function () {
  const review = document.getElementById("kensa-review");
  if (!review) return;
  const stage = review.querySelector(".kensa-stage");
  const viewport = review.querySelector(".kensa-viewport");
  const level = review.querySelector(".kensa-zoom-level");
  const width = parseFloat(stage.style.width);
  const height = parseFloat(stage.style.height);
  let zoom = 1;

  function setZoom(value) {
    zoom = Math.min(8, Math.max(0.1, value));
    stage.style.transform = "scale(" + zoom + ")";
    // A scaled element keeps its layout size: a wrapper-free way to let the viewport scroll.
    stage.style.marginRight = width * (zoom - 1) + "px";
    stage.style.marginBottom = height * (zoom - 1) + "px";
    level.textContent = Math.round(zoom * 100) + "%";
  }
  function fit() {
    setZoom(Math.min(1, viewport.clientWidth / width));
  }
  review.querySelectorAll("[data-zoom]").forEach(function (button) {
    button.addEventListener("click", function () {
      const how = button.dataset.zoom;
      setZoom(how === "in" ? zoom * 1.25 : how === "out" ? zoom / 1.25 : 1);
    });
  });
  viewport.addEventListener("wheel", function (event) {
    if (!event.ctrlKey) return;
    event.preventDefault();
    setZoom(event.deltaY < 0 ? zoom * 1.1 : zoom / 1.1);
  }, { passive: false });
  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, select, textarea")) return;
    if (event.key === "+" || event.key === "=") setZoom(zoom * 1.25);
    else if (event.key === "-") setZoom(zoom / 1.25);
    else if (event.key === "0") setZoom(1);
    else if (event.key === "c" || event.key === "r") decideFirstUnreviewed(event.key);
    else if (event.key === "n") goToNext();
  });
  // c / r: confirm or reject the surest defect nobody has judged yet (rows come surest first).
  function decideFirstUnreviewed(key) {
    const button = review.querySelector("tr.state-unreviewed button[data-key='" + key + "']");
    if (button) button.click();
  }
  function goToNext() {
    const next = document.getElementById("kensa-next");
    if (next) window.location.assign(next.href);
  }
  review.querySelectorAll("tr[data-defect]").forEach(function (row) {
    const box = review.querySelector("g[data-defect='" + row.dataset.defect + "']");
    if (!box) return;
    row.addEventListener("mouseenter", function () { box.classList.add("kensa-focus"); });
    row.addEventListener("mouseleave", function () { box.classList.remove("kensa-focus"); });
  });
  fit();
})();
