/* Small behaviours of the control-panel pages; each works without the others and the pages work
 * without any of them (plain links and forms underneath).
 *   - Copy buttons: [data-copy-target="<textarea id>"].
 *   - The Cancel Request dialog (#cancel-modal): aimed at the order whose link opened it.
 *   - Forms with [data-submit-once]: the submit button is disabled once sent, so a double click
 *     does not send twice; [data-confirm] asks first.
 *   - The New order lines: "Add a line" adds a row to the formset.
 *   - [data-poll-when-idle]: the live refresh of Order Management skips its round while the tab is
 *     hidden or a menu or a dialog is open, so it never closes what someone is using. (Not an
 *     htmx trigger filter: those are evaluated with eval, which the Content-Security-Policy
 *     refuses.)
 */
(function () {
  "use strict";

  function pollAllowed() {
    return !document.hidden && !document.querySelector(".dropdown-menu.show, .modal.show");
  }

  // htmx asks before each request; cancelling this one leaves the polling timer running, so the
  // next round comes as usual.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.hasAttribute("data-poll-when-idle") && !pollAllowed()) {
      event.preventDefault();
    }
  });

  // --- Copy buttons ---
  function copied(button) {
    var done = button.parentElement.querySelector("[data-copy-done]");
    var label = button.textContent;
    button.textContent = "Copied";
    if (done) {
      done.hidden = false;
    }
    window.setTimeout(function () {
      button.textContent = label;
      if (done) {
        done.hidden = true;
      }
    }, 2500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) {
      return;
    }
    var source = document.getElementById(button.dataset.copyTarget);
    if (!source) {
      return;
    }
    var fallback = function () {
      source.focus();
      source.select();
      try {
        document.execCommand("copy");
        copied(button);
      } catch (e) {
        /* the text stays selected: the person can copy it by hand */
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(function () {
        copied(button);
      }, fallback);
    } else {
      fallback();
    }
  });

  // --- The Cancel Request dialog ---
  var modal = document.getElementById("cancel-modal");
  if (modal) {
    modal.addEventListener("show.bs.modal", function (event) {
      var link = event.relatedTarget;
      var form = modal.querySelector("form");
      if (!link || !form) {
        return;
      }
      form.reset();
      form.action = link.getAttribute("href");
      modal.querySelector("[data-modal-order-number]").textContent = link.dataset.orderNumber;
      modal.querySelector("[data-modal-refund]").textContent = link.dataset.orderPaid
        ? "$" + link.dataset.orderTotal + " is refunded"
        : "nothing is charged";
      var button = form.querySelector("[type=submit]");
      button.disabled = false;
    });
    modal.addEventListener("shown.bs.modal", function () {
      var select = modal.querySelector("select");
      if (select) {
        select.focus();
      }
    });
  }

  // --- Submit once, confirm first ---
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (!form.hasAttribute("data-submit-once")) {
      return;
    }
    if (form.dataset.sent) {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    form.querySelectorAll("[type=submit]").forEach(function (button) {
      button.disabled = true;
      if (button.dataset.busyText) {
        button.textContent = button.dataset.busyText;
      }
    });
  });
  // Back/forward cache: a page shown again must be usable again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      delete form.dataset.sent;
      form.querySelectorAll("[type=submit]").forEach(function (button) {
        button.disabled = false;
      });
    });
  });

  // --- New order: add a line ---
  var addLine = document.querySelector("[data-add-line]");
  if (addLine) {
    addLine.addEventListener("click", function () {
      var total = document.getElementById("id_lines-TOTAL_FORMS");
      var template = document.getElementById("line-row-template");
      var rows = document.querySelector("[data-line-rows]");
      var index = Number(total.value);
      var max = Number(addLine.dataset.max || 100);
      if (index >= max) {
        addLine.disabled = true;
        return;
      }
      var html = template.innerHTML
        .replace(/__prefix__/g, String(index))
        .replace(/__number__/g, String(index + 1));
      rows.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      var inputs = rows.querySelectorAll("[data-line-row]");
      var input = inputs[inputs.length - 1].querySelector("input");
      if (input) {
        input.focus();
      }
      if (index + 1 >= max) {
        addLine.disabled = true;
      }
    });
  }
})();
