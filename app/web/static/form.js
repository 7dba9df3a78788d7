// Progressive enhancement of the activity form: a box above each long list of checkboxes
// (the States, the regions) that narrows it as one types, with and without accents; and the
// error summary takes the focus.  The form works the same without it.
(function () {
  "use strict";
  function plain(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  document.querySelectorAll(".choices[data-filter]").forEach(function (list, index) {
    var id = "filter-" + index;
    var label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = list.getAttribute("data-filter");
    var box = document.createElement("input");
    box.type = "search";
    box.id = id;
    box.autocomplete = "off";
    box.className = "filter";
    box.addEventListener("input", function () {
      var wanted = plain(box.value.trim());
      list.querySelectorAll("label").forEach(function (choice) {
        var shown = !wanted || plain(choice.textContent).indexOf(wanted) !== -1 ||
          choice.querySelector("input").checked;
        choice.hidden = !shown;
      });
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }
    });
    list.parentNode.insertBefore(label, list);
    list.parentNode.insertBefore(box, list);
  });
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
})();
