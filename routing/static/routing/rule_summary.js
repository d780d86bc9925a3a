// The rule form's summary, read again as the manager edits (routing.admin summary_view).
"use strict";
(() => {
  const url = document.currentScript.dataset.url;
  const form = document.getElementById("routingrule_form");
  const target = document.querySelector(".field-summary .readonly");
  if (!url || !form || !target) return;
  let timer = null;
  let asked = 0;
  const refresh = () => {
    const mine = ++asked;
    const data = new FormData(form);
    const chosen = document.getElementById("id_workspaces_to");  // selected only on submit
    if (chosen) {
      data.delete("workspaces");
      for (const option of chosen.options) data.append("workspaces", option.value);
    }
    fetch(url, { method: "POST", body: data, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : null))
      .then((body) => {
        if (body && mine === asked) target.textContent = body.summary;
      })
      .catch(() => {});
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  form.addEventListener("click", (event) => {
    if (event.target.closest(".selector-chooser, .selector-chooseall, .selector-clearall, .inline-deletelink, .add-row")) later();
  });
  if (window.django && window.django.jQuery) window.django.jQuery(form).on("change", later);  // select2
})();
