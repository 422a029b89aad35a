// The setup page: plain JavaScript, no build step. Every call goes to /app/api/<location>/…
// with the session cookie; every value from the server is put in the page as text.
(function () {
  "use strict";
  var loc = document.body.dataset.location;
  var base = "/app/api/" + encodeURIComponent(loc);
  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) { e.textContent = text; } if (cls) { e.className = cls; } return e; }
  function say(id, text, ok) { var e = $(id); e.textContent = text; e.className = ok ? "ok" : (ok === false ? "err" : ""); }

  function api(method, path, body) {
    var opts = {method: method, credentials: "include", headers: {"X-HLRZ-App": "1"}};
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(base + path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (r.status === 401) { window.location.replace("/app"); }
        return {ok: r.ok, status: r.status, body: j};
      });
    });
  }

  // ---- state
  var state = {};
  function showState(s) {
    state = s;
    $("state-words").textContent = s.words;
    $("state-detail").textContent = s.installed ? ("Connection " + s.connection + " · mapping: " + (s.customMapping ? "your own" : "the default")) : "";
    $("pause-btn").hidden = !(s.status === "active" && s.rzConnected);
    $("resume-btn").hidden = s.status !== "paused";
    $("start-btn").disabled = !(s.status === "active" && s.rzConnected) || s.backfill === "running";
    $("token").dataset.connected = s.rzConnected ? "yes" : "no";
    if (s.rzConnected) { say("token-msg", "Referrizer is connected. Enter a new token only to replace it.", true); }
    if (s.backfill === "running" || s.backfill === "done") { watch(); }
  }
  function loadState() { return api("GET", "/state").then(function (r) { if (r.ok) { showState(r.body); } }); }

  $("token-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = $("rz-token");
    $("token-save").disabled = true;
    say("token-msg", "Checking the token with Referrizer…");
    api("POST", "/token", {token: input.value}).then(function (r) {
      $("token-save").disabled = false;
      input.value = "";
      if (!r.ok) { say("token-msg", r.body.error || "Not saved.", false); return; }
      showState(r.body);
      say("token-msg", "Referrizer accepted the token. It is saved, encrypted.", true);
      loadMapping();
    });
  });

  function pauseResume(path) {
    api("POST", path).then(function (r) { if (r.ok) { showState(r.body); } else { say("state-detail", r.body.error, false); } });
  }
  $("pause-btn").addEventListener("click", function () { pauseResume("/pause"); });
  $("resume-btn").addEventListener("click", function () { pauseResume("/resume"); });

  // ---- mapping
  var directions = [["both", "both ways"], ["ghl->rz", "HighLevel → Referrizer"], ["rz->ghl", "Referrizer → HighLevel"], ["off", "not synced"]];
  var conflicts = [["newest-wins", "the newest change wins"], ["ghl-wins", "HighLevel wins"], ["rz-wins", "Referrizer wins"]];
  var labels = {firstName: "First name", lastName: "Last name", email: "E-mail", phone: "Phone", dnd: "Do not disturb", tags: "Tags / labels"};
  function select(options, value, name) {
    var s = el("select"); s.name = name;
    options.forEach(function (o) { var opt = el("option", o[1]); opt.value = o[0]; s.appendChild(opt); });
    s.value = value; return s;
  }
  function fillForm(f) {
    var body = $("mapping-fields"); body.textContent = "";
    f.fields.forEach(function (ff) {
      var tr = el("tr"); tr.dataset.field = ff.name;
      tr.appendChild(el("td", labels[ff.name] || ff.name));
      var td = el("td"); td.appendChild(select(directions, ff.direction, "direction")); tr.appendChild(td);
      td = el("td");
      if (ff.name !== "tags") { td.appendChild(select(conflicts, ff.conflict || "newest-wins", "conflict")); } else { td.textContent = "labels are merged"; }
      tr.appendChild(td); body.appendChild(tr);
    });
    $("delete-policy").value = f.deletePolicy; $("deleted-label").value = f.deletedLabel;
    $("notes-field").value = f.notes.field; $("notes-max").value = f.notes.maxLength;
    $("tasks-field").value = f.tasks.field; $("tasks-max").value = f.tasks.maxLength; $("tasks-keep").value = f.tasks.keepCompletedFor;
    $("tasks-open").value = f.tasks.openLabel; $("tasks-overdue").value = f.tasks.overdueLabel;
  }
  function readForm() {
    var fields = [];
    Array.prototype.forEach.call($("mapping-fields").children, function (tr) {
      var c = tr.querySelector("select[name=conflict]");
      fields.push({name: tr.dataset.field, direction: tr.querySelector("select[name=direction]").value, conflict: c ? c.value : ""});
    });
    return {fields: fields, deletePolicy: $("delete-policy").value, deletedLabel: $("deleted-label").value,
      notes: {field: $("notes-field").value, maxLength: parseInt($("notes-max").value, 10) || 0},
      tasks: {field: $("tasks-field").value, maxLength: parseInt($("tasks-max").value, 10) || 0, keepCompletedFor: $("tasks-keep").value,
        openLabel: $("tasks-open").value, overdueLabel: $("tasks-overdue").value}};
  }
  function showProblems(problems) {
    var ul = $("mapping-problems"); ul.textContent = "";
    (problems || []).forEach(function (p) {
      ul.appendChild(el("li", (p.line ? "line " + p.line + ": " : "") + (p.path ? p.path + ": " : "") + p.message));
    });
  }
  function mappingSaved(r, msgID) {
    if (r.ok) { fillForm(r.body.form); $("mapping-yaml").value = r.body.yaml; showProblems([]); say(msgID, "Saved.", true); loadState(); return; }
    showProblems(r.body.problems); say(msgID, r.body.error || "Not saved: see the problems in the YAML section.", false);
    if (r.body.problems) { $("mapping").querySelector("details").open = true; }
  }
  function loadMapping() {
    return api("GET", "/mapping").then(function (r) {
      if (!r.ok) { return; }
      $("mapping-yaml").value = r.body.yaml;
      if (r.body.form) { fillForm(r.body.form); }
      showProblems(r.body.problems);
    });
  }
  $("mapping-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("POST", "/mapping/form", readForm()).then(function (r) { mappingSaved(r, "mapping-msg"); });
  });
  $("yaml-save").addEventListener("click", function () {
    api("POST", "/mapping/yaml", {yaml: $("mapping-yaml").value}).then(function (r) { mappingSaved(r, "mapping-msg"); });
  });

  // ---- preview
  function person(p) { return (p.name || "(no name)") + (p.email ? " · " + p.email : "") + (p.phone ? " · " + p.phone : ""); }
  $("preview-btn").addEventListener("click", function () {
    $("preview-btn").disabled = true;
    say("start-msg", "Reading both sides…");
    api("GET", "/preview").then(function (r) {
      $("preview-btn").disabled = false;
      if (!r.ok) { say("start-msg", r.body.error || "Preview failed.", false); return; }
      say("start-msg", "");
      var p = r.body;
      $("pv-linked").textContent = p.linked; $("pv-create-rz").textContent = p.createInRZ;
      $("pv-create-ghl").textContent = p.createInGHL; $("pv-ambiguous").textContent = p.ambiguous;
      $("pv-totals").textContent = p.ghlContacts + " people in HighLevel, " + p.rzContacts + " in Referrizer" +
        (p.held ? "; " + p.held + " share an e-mail or phone with someone else on their side and will wait for you" : "") +
        (p.incomplete ? " (too many to read all: counts are partial)" : "") + ".";
      var amb = $("pv-ambiguous-list"); amb.textContent = "";
      if (p.ambiguousPeople && p.ambiguousPeople.length) {
        amb.appendChild(el("h3", "Undecided: which HighLevel contact is this Referrizer person?"));
        p.ambiguousPeople.forEach(function (a) {
          var d = el("div"); d.appendChild(el("p", person(a.rz) + " — " + a.reason));
          var ul = el("ul"); a.candidates.forEach(function (c) { ul.appendChild(el("li", person(c) + " (" + c.id + ")")); });
          d.appendChild(ul); amb.appendChild(d);
        });
      }
      var mg = $("pv-merges"); mg.textContent = "";
      if (p.merges && p.merges.length) {
        mg.appendChild(el("h3", "Examples of people that will be linked"));
        var ul = el("ul");
        p.merges.forEach(function (m) { ul.appendChild(el("li", person(m.ghl) + "  ⇄  " + person(m.rz) + ": " + m.summary)); });
        mg.appendChild(ul);
      }
      $("preview-result").hidden = false;
      $("start-btn").disabled = !(state.status === "active" && state.rzConnected) || state.backfill === "running";
    });
  });
  $("start-btn").addEventListener("click", function () {
    $("start-btn").disabled = true;
    api("POST", "/backfill").then(function (r) {
      if (!r.ok) { say("start-msg", r.body.error || "Could not start.", false); $("start-btn").disabled = false; return; }
      say("start-msg", "Started.", true); watch();
    });
  });

  // ---- progress (the backfill's progress query)
  var watching = null;
  var phases = {ghl: "reading HighLevel", rz: "reading Referrizer and linking", sync: "copying people", draining: "finishing the last people", done: "done"};
  function watch() { if (!watching) { $("progress").hidden = false; poll(); watching = setInterval(poll, 1000); } }
  function poll() {
    api("GET", "/progress").then(function (r) {
      if (!r.ok || !r.body.progress) { return; }
      var p = r.body.progress;
      $("pg-phase").textContent = p.phase; $("progress").dataset.phase = p.phase;
      $("pg-linked").textContent = p.linked; $("pg-created").textContent = p.created;
      $("pg-ambiguous").textContent = p.ambiguous; $("pg-failed").textContent = p.failed;
      $("pg-bar").max = Math.max(p.started, 1); $("pg-bar").value = p.synced + p.failed;
      $("pg-words").textContent = (phases[p.phase] || p.phase) + ": " + (p.synced + p.failed) + " of " + p.started + " people done.";
      if (p.phase === "done") { clearInterval(watching); watching = "done"; $("pg-bar").value = $("pg-bar").max; loadProblems(); loadState(); }
    });
  }

  // ---- problems
  function loadProblems() {
    api("GET", "/problems").then(function (r) {
      if (!r.ok) { return; }
      var list = $("problems-list"); list.textContent = "";
      var ps = r.body.problems || [];
      $("problems-words").textContent = ps.length ? (r.body.peopleInError + " people need attention.") : "No problems.";
      ps.forEach(function (p) {
        var tr = el("tr"); tr.dataset.id = p.id;
        tr.appendChild(el("td", new Date(p.when).toLocaleString()));
        var td = el("td"); td.appendChild(el("div", p.what)); td.appendChild(el("div", p.detail, "muted"));
        (p.candidates || []).forEach(function (c) {
          var pick = el("button", "This is " + person(c), "secondary pick");
          pick.dataset.ghlId = c.id;
          pick.addEventListener("click", function () { act(p.id, "resolve", {ghlId: c.id}); });
          td.appendChild(pick);
        });
        tr.appendChild(td);
        td = el("td");
        if (p.canRedo) { var b = el("button", "Try again"); b.addEventListener("click", function () { act(p.id, "replay"); }); td.appendChild(b); }
        var d = el("button", "Dismiss", "secondary"); d.addEventListener("click", function () { act(p.id, "discard"); }); td.appendChild(d);
        tr.appendChild(td); list.appendChild(tr);
      });
    });
  }
  function act(id, action, body) {
    api("POST", "/deadletters/" + id + "/" + action, body).then(function (r) {
      if (!r.ok) { $("problems-words").textContent = r.body.error || "Failed."; }
      loadProblems();
    });
  }

  loadState().then(loadMapping).then(loadProblems);
})();
