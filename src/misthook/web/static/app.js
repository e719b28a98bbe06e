// Small behaviours shared by the pages: "select all" boxes and confirmations.
"use strict";
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.dataset.selectAll) return;
  const form = box.closest("form");
  for (const other of form.querySelectorAll(`input[name="${box.dataset.selectAll}"]`)) {
    other.checked = box.checked;
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  // a Ping button submits another form; only the form's own submit asks
  if (event.submitter && event.submitter.form !== form) return;
  const question = form.dataset && form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
