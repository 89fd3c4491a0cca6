// securetrain studio: the + New wizard's steps and its pre-flight panel,
// and a job's live log.
// No framework, no inline script (the Content-Security-Policy forbids
// it); every piece of text from the server is set with textContent.
"use strict";

document.documentElement.classList.add("js");

function wizard(form) {
  const steps = form.querySelectorAll("[data-step]");
  function show(n) {
    steps.forEach(function (s) { s.classList.toggle("current", s.dataset.step === String(n)); });
    const first = form.querySelector('[data-step="' + n + '"] input:not([type=hidden]), [data-step="' + n + '"] select');
    if (first) { first.focus(); }
  }
  form.querySelectorAll("[data-goto]").forEach(function (b) {
    b.addEventListener("click", function () { show(b.dataset.goto); });
  });
  // A refused Create comes back on its advanced settings.
  show(document.getElementById("error") ? 2 : 1);

  const kinds = form.querySelectorAll('input[name="kind"]');
  const vnet = form.querySelector("#vnet"), subnet = form.querySelector("#subnet");
  const ssh = form.querySelector("#ssh"), key = form.querySelector("#sshKey");
  function sync() {
    const cluster = form.querySelector('input[name="kind"]:checked').value === "cluster";
    form.querySelectorAll(".cluster-only input").forEach(function (i) { i.disabled = !cluster; });
    form.querySelector(".cluster-only").hidden = !cluster;
    subnet.disabled = !vnet.checked;
    key.disabled = !ssh.checked;
  }
  kinds.forEach(function (k) { k.addEventListener("change", sync); });
  sync();

  const panel = document.getElementById("preflight-findings");
  const status = document.getElementById("preflight-status");
  const csrf = form.querySelector('input[name="csrf"]').value;
  let timer = null, seq = 0;
  function item(cls, text, code, fix) {
    const li = document.createElement("li");
    li.className = cls;
    li.appendChild(document.createTextNode(text));
    if (code) {
      const c = document.createElement("span");
      c.className = "code";
      c.textContent = " [" + code + "]";
      li.appendChild(c);
    }
    if (fix) {
      const f = document.createElement("span");
      f.className = "fix";
      f.textContent = "Fix: " + fix;
      li.appendChild(f);
    }
    return li;
  }
  // The quota: the chosen size's cores times the nodes the compute
  // allocates at once (an instance's one, a cluster's minimum) against
  // what its family and the region have left, as the page was loaded;
  // a cluster's maximum beyond it is a warning (it cannot grow so far).
  const quotaNote = document.getElementById("quota");
  function quota() {
    const size = form.querySelector("#vmSize").selectedOptions[0];
    if (!size || size.dataset.left === undefined || !quotaNote) { return null; }
    const cluster = form.querySelector('input[name="kind"]:checked').value === "cluster";
    const least = cluster ? Number(form.querySelector("#minNodes").value) || 0 : 1;
    const most = cluster ? Number(form.querySelector("#maxNodes").value) || 0 : 1;
    const cores = Number(size.dataset.cores), region = quotaNote.dataset.region;
    const familyLeft = Number(size.dataset.left), totalLeft = Number(quotaNote.dataset.totalLeft);
    const left = Math.min(familyLeft, totalLeft);
    const which = familyLeft <= totalLeft
      ? "the " + size.dataset.family + " quota has " + familyLeft + " of " + size.dataset.limit + " cores left in " + region
      : "the Total Regional vCPUs quota has " + totalLeft + " cores left in " + region;
    const fit = Math.floor(left / cores);
    const fix = "Choose a size of another family or fewer nodes, stop or delete computes that hold these cores, or raise the quota (securetrain serve --quotas).";
    if (least * cores > left) {
      return { error: true, li: item("sev-error", "error: " + least + " × " + size.value + " need " + least * cores + " cores, and " + which + " (room for " + fit + ").", "QuotaExceeded", fix) };
    }
    if (most * cores > left) {
      return { error: false, li: item("sev-warning", "warning: the cluster can grow to " + fit + " of its " + most + " nodes: " + most + " × " + size.value + " need " + most * cores + " cores, and " + which + ".", "QuotaExceeded", fix) };
    }
    return null;
  }
  function render(ok, answer) {
    panel.replaceChildren();
    status.className = "";
    const q = quota();
    if (q) { panel.appendChild(q.li); }
    if (!ok) {
      const e = answer && answer.error ? answer.error : { code: "Error", message: "the pre-flight check failed" };
      status.textContent = "Cannot check yet";
      status.className = "verdict-warn";
      panel.appendChild(item("sev-warning", e.message, e.code));
      return;
    }
    const rep = answer.report;
    const verdict = { "ok": "verdict-ok", "degraded": "verdict-warn", "will fail": "verdict-fail" }[rep.status] || "";
    status.textContent = rep.summary;
    status.className = verdict;
    if (q && q.error && rep.status !== "will fail") {
      status.textContent = "will fail: not enough quota";
      status.className = "verdict-fail";
    }
    if (answer.freeAddresses !== undefined) {
      panel.appendChild(item("", "Subnet: " + answer.freeAddresses + " free addresses before this compute."));
    }
    rep.findings.forEach(function (f) {
      panel.appendChild(item("sev-" + f.severity, f.severity + ": " + f.message, f.code, f.fix));
    });
    const blocked = rep.flows.filter(function (fl) { return fl.verdict !== "Allowed"; });
    const passing = rep.flows.length - blocked.length;
    if (rep.flows.length > 0) {
      panel.appendChild(item("", passing + " of " + rep.flows.length + " required flows pass."));
    }
  }
  function check() {
    const mine = ++seq;
    status.textContent = "Checking…";
    const body = new URLSearchParams(new FormData(form));
    fetch(form.dataset.preflight, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
      .then(function (resp) {
        return resp.json().then(function (answer) { return { ok: resp.ok, answer: answer }; }, function () { return { ok: false, answer: null }; });
      })
      .then(function (r) { if (mine === seq) { render(r.ok, r.answer); } })
      .catch(function () { if (mine === seq) { render(false, null); } });
  }
  function later() {
    sync();
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  check();
}

document.addEventListener("DOMContentLoaded", function () {
  const form = document.getElementById("compute-form");
  if (form) { wizard(form); }
  const log = document.getElementById("log");
  if (log && log.dataset.terminal === "false") { followLog(log); }
});

// A job's page follows its log while it runs: an EventSource on the
// server's stream (server-sent events) appends what the log gains as
// text; when the job ends the page reloads to show how it ended. A
// dropped connection reconnects by itself from the last offset
// (Last-Event-ID); a refusal or a failure event stops it, saying why.
function followLog(pre) {
  const status = document.getElementById("status");
  const state = document.getElementById("log-state");
  const source = new EventSource(pre.dataset.src + "&offset=" + (Number(pre.dataset.offset) || 0));
  function stop(why) {
    source.close();
    state.textContent = "The log stopped updating: " + why;
  }
  source.addEventListener("log", function (ev) {
    const chunk = JSON.parse(ev.data);
    pre.appendChild(document.createTextNode(chunk.text));
    pre.dataset.offset = String(chunk.offset);
    pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("status", function (ev) {
    const s = JSON.parse(ev.data);
    status.textContent = s.status;
    status.dataset.status = s.status;
  });
  source.addEventListener("end", function () {
    source.close();
    window.location.reload();
  });
  source.addEventListener("failure", function (ev) {
    const e = JSON.parse(ev.data);
    stop(e.message + " (" + e.code + ")");
  });
  source.addEventListener("error", function () {
    // CLOSED: the server refused the stream (an error answer); otherwise
    // the browser is reconnecting.
    if (source.readyState === EventSource.CLOSED) {
      stop("the server refused the stream. Reload the page.");
    }
  });
}
