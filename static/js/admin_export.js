/* import-export's export page: its "Select all" checkbox, bound here instead of by the onchange=""
 * attribute of the original template, which the Content-Security-Policy refuses
 * (templates/admin/import_export/export.html). onSelectToggleChange comes from import-export's
 * export_selectable_fields.js, loaded before this file by the form's media. */
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    if (event.target.matches("input.select-toggle") && typeof window.onSelectToggleChange === "function") {
      window.onSelectToggleChange(event);
    }
  });
})();
