// A read-only admin field kept up to date as the form is edited: the whole form (unsaved) is
// posted to data-url and the answer replaces the field (data-target). data-html: the answer
// is safe HTML rendered by the server; otherwise JSON {"text": ...}. Nothing is saved.
"use strict";
(() => {
  const script = document.currentScript;
  const { url, form: formId, target: targetSelector } = script.dataset;
  const form = document.getElementById(formId);
  const target = document.querySelector(targetSelector);
  if (!url || !form || !target) return;
  let timer = null;
  let asked = 0;
  const refresh = () => {
    const mine = ++asked;
    const data = new FormData(form);
    // filter_horizontal boxes select their chosen options only on submit
    for (const chosen of form.querySelectorAll("select.filtered[id$='_to']")) {
      data.delete(chosen.name);
      for (const option of chosen.options) data.append(chosen.name, option.value);
    }
    fetch(url, { method: "POST", body: data, credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : null))
      .then((body) => {
        if (body === null || mine !== asked) return;
        if ("html" in script.dataset) target.innerHTML = body;
        else target.textContent = JSON.parse(body).text;
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
    const buttons = ".selector-chooser, .selector-chooseall, .selector-clearall, .inline-deletelink, .add-row";
    if (event.target.closest(buttons)) later();
  });
  if (window.django && window.django.jQuery) window.django.jQuery(form).on("change", later); // select2
})();
