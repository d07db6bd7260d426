(function () {
  "use strict";
  // The report form (码上举报): a live character count, and what the
  // reporter typed put back into a page the service answered without
  // reading the form. The form's submission by fetch and the proof of work
  // are services/internal/pow's form script (the form is data-pow-form),
  // which calls window.wuxiaoPowShown after it shows the answer page.
  var desc = document.getElementById("description");
  var count = document.getElementById("description-count");
  if (desc && count) {
    var update = function () { count.textContent = "已输入" + Array.from(desc.value.trim()).length + "字"; };
    desc.addEventListener("input", update);
    update();
  }
  // Refused before the upload (too frequent, busy, too large): files must
  // be chosen again.
  window.wuxiaoPowShown = function (data) {
    var d = document.getElementById("description"), text = data.get("description");
    if (d && !d.value && typeof text === "string" && text) {
      d.value = text;
      d.dispatchEvent(new Event("input"));
    }
    var radios = document.getElementsByName("category"), cat = data.get("category"), checked = false, i;
    for (i = 0; i < radios.length; i++) checked = checked || radios[i].checked;
    for (i = 0; i < radios.length && !checked; i++) if (radios[i].value === cat) radios[i].checked = true;
    var ident = document.querySelector("input[name=identified]");
    if (ident && data.get("identified") === "1") ident.checked = true;
  };
})();
