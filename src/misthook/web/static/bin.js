// The bin page: polls for caught requests, renders JSON as a collapsible tree and shows
// whether X-Mist-Signature(-v2) match the secret typed (checked by the server).
"use strict";
(() => {
  const list = document.getElementById("bin-requests");
  const status = document.getElementById("bin-status");
  const secretInput = document.getElementById("bin-secret");
  if (!list) return;
  const shown = new Map();  // request id -> element
  let busy = false;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) node.append(child);
    return node;
  }

  function tree(value, key) {
    const label = key === undefined ? "" : key;
    if (value !== null && typeof value === "object") {
      const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
      const open = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
      const details = el("details", { open: "" },
        el("summary", {}, el("span", { class: "k" }, String(label)), " ", open));
      for (const [k, v] of entries) details.append(tree(v, k));
      return details;
    }
    const cls = typeof value === "string" ? "s" : "n";
    return el("div", { class: "leaf" }, el("span", { class: "k" }, String(label)),
      label === "" ? "" : ": ", el("span", { class: cls }, JSON.stringify(value)));
  }

  function verdicts(req) {
    const box = el("div", { class: "verdicts" });
    if (!req.verdicts) {
      box.append(el("span", { class: "muted" }, "Type the secret above to check the signatures."));
      return box;
    }
    for (const [name, verdict] of Object.entries(req.verdicts)) {
      box.append(el("span", { class: verdict, "data-verdict": name },
        `${name}: ${verdict === "valid" ? "valid" : verdict === "missing" ? "missing" : "INVALID"}`), "  ");
    }
    return box;
  }

  function render(req) {
    const when = new Date(req.timestamp * 1000).toISOString().replace("T", " ").slice(0, 19);
    const head = el("div", { class: "head" },
      el("span", { class: "method" }, req.method),
      el("span", { class: "url" }, req.path + (req.query ? "?" + req.query : "")),
      el("span", { class: "muted" }, `${when} UTC`),
      el("span", { class: "muted" }, `from ${req.src_ip}`),
      el("span", { class: "muted" }, `${req.size} bytes`));
    const headers = el("details", {}, el("summary", {}, `Headers (${req.headers.length})`),
      el("pre", {}, req.headers.map(([k, v]) => `${k}: ${v}`).join("\n")));
    let body;
    if (req.json !== null && typeof req.json === "object") {
      body = el("div", { class: "tree" }, tree(req.json));
      if (req.json.topic) head.append(el("span", { class: "tag" }, req.json.topic));
    } else {
      body = el("pre", {}, req.binary ? "(binary body, base64) " + req.body : req.body || "(empty body)");
    }
    const node = el("article", { class: "bin-request", "data-request": req.id },
      head, verdicts(req), headers, body);
    if (req.truncated) node.append(el("p", { class: "muted" }, "Body truncated."));
    return node;
  }

  async function poll() {
    if (busy) return;
    busy = true;
    try {
      const answer = await fetch(list.dataset.poll, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": list.dataset.csrf },
        body: JSON.stringify({ secret: secretInput ? secretInput.value : "" }),
        credentials: "same-origin",
      });
      if (!answer.ok) { status.textContent = `The bin is gone or the session ended (${answer.status}).`; return; }
      const { requests } = await answer.json();
      const seen = new Set();
      // newest first: insert unknown ones before what is shown, in order
      let anchor = list.firstChild;
      for (const req of requests) {
        seen.add(req.id);
        const old = shown.get(req.id);
        if (old) {
          old.replaceChild(verdicts(req), old.querySelector(".verdicts"));
          anchor = old.nextSibling;
        } else {
          const node = render(req);
          list.insertBefore(node, anchor);
          shown.set(req.id, node);
          anchor = node.nextSibling;
        }
      }
      for (const [id, node] of shown) if (!seen.has(id)) { node.remove(); shown.delete(id); }
      status.textContent = requests.length ? `${requests.length} request(s), newest first` : "Waiting for requests…";
    } catch (err) {
      status.textContent = "Cannot reach the server; retrying.";
    } finally {
      busy = false;
    }
  }

  let typing;
  if (secretInput) secretInput.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(poll, 250); });
  poll();
  setInterval(poll, 1500);
})();
