// The desk: a live timeline (polls the server, no build step, nothing from the internet)
// and keyboard shortcuts ("/" search, "n" note, Ctrl+Enter sends the form you type in).
(function () {
  "use strict";
  var POLL_MS = 5000;
  var box = document.getElementById("timeline");
  if (box && box.dataset.poll) {
    var busy = false;
    var poll = function () {
      if (busy || document.hidden) return;
      var table = box.querySelector("[data-marker]");
      var since = table ? table.dataset.marker : "";
      busy = true;
      fetch(box.dataset.poll + "?since=" + encodeURIComponent(since), {
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
      })
        .then(function (r) { return r.status === 200 ? r.text() : null; })
        .then(function (html) { if (html !== null) box.innerHTML = html; })
        .catch(function () {})
        .then(function () { busy = false; });
    };
    setInterval(poll, POLL_MS);
    document.addEventListener("visibilitychange", poll);
  }
  document.addEventListener("keydown", function (e) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
    if (typing && e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target.form) {
      e.preventDefault();
      e.target.form.requestSubmit();
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    var target = null;
    if (e.key === "/") target = document.querySelector("[data-key='/']");
    if (e.key === "n") target = document.querySelector("#note-form textarea");
    if (target) { e.preventDefault(); target.focus(); }
  });
})();
