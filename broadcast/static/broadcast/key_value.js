// Key/value rows (broadcast.admin_forms.KeyValueWidget): "Add a row" copies the last row, empty.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest(".lb-key-value-add");
  if (!button) return;
  const body = document.getElementById(button.dataset.for).querySelector("tbody");
  const row = body.lastElementChild.cloneNode(true);
  row.querySelectorAll("input").forEach((input) => { input.value = ""; });
  body.appendChild(row);
  row.querySelector("input").focus();
});
