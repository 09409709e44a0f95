/* The cancel window of queued orders, counting down in the browser.
 *
 * Each [data-countdown] element carries the order's release time (data-release-at) and the
 * server's clock when the page was made (data-now), both ISO 8601. The browser's clock may be
 * off: the difference to the server's is measured once per element and taken out. At zero the
 * element says "Releasing…" and every [data-hide-when-released] inside the same
 * [data-countdown-scope] (the order's row, or the order page) is hidden: Cancel Request is no
 * longer offered. The server still decides: a request sent at the last second gets the true
 * answer.
 */
(function () {
  "use strict";

  function parseIso(value) {
    // Django's "c" format has microseconds; keep milliseconds, which every browser parses.
    return Date.parse(String(value || "").replace(/(\.\d{3})\d+/, "$1"));
  }

  function render(el) {
    if (el.dataset.skew === undefined) {
      var serverNow = parseIso(el.dataset.now);
      el.dataset.skew = isNaN(serverNow) ? "0" : String(serverNow - Date.now());
    }
    var releaseAt = parseIso(el.dataset.releaseAt);
    if (isNaN(releaseAt)) {
      return;
    }
    var left = Math.ceil((releaseAt - (Date.now() + Number(el.dataset.skew))) / 1000);
    var clock = el.querySelector("[data-countdown-clock]");
    var suffix = el.querySelector("[data-countdown-suffix]");
    if (left <= 0) {
      if (clock) {
        clock.textContent = "Releasing…";
      } else {
        el.textContent = "Releasing…";
      }
      if (suffix) {
        suffix.hidden = true;
      }
      el.classList.add("countdown-done");
      el.removeAttribute("data-countdown");
      var scope = el.closest("[data-countdown-scope]") || document;
      scope.querySelectorAll("[data-hide-when-released]").forEach(function (hide) {
        hide.hidden = true;
      });
      return;
    }
    var minutes = Math.floor(left / 60);
    var seconds = left % 60;
    var text = minutes + ":" + (seconds < 10 ? "0" : "") + seconds;
    if (clock) {
      clock.textContent = text;
    } else {
      el.textContent = text;
    }
  }

  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(render);
  }

  tick();
  window.setInterval(tick, 1000);
  // Rows swapped in by the live refresh start counting at once.
  document.addEventListener("htmx:afterSettle", tick);
})();
