// oneonone: live updates of the agenda pages. Served from /static/app.js (CSP script-src 'self').
// Every action works without this script (forms POST and come back). With it, the page asks the
// server every few seconds whether the pair's agenda changed (a small JSON revision), and if so
// fetches the page again and swaps in the parts (data-part) whose content changed — except a part
// someone is typing in or has an edit form open in; that one is retried on the next round.
'use strict';
(function () {
  var live = document.getElementById('live');
  if (!live || !window.fetch || !window.DOMParser) { return; }
  var url = live.getAttribute('data-rev-url');
  var rev = live.getAttribute('data-rev');
  var INTERVAL = 2000;

  function busy(part) {
    if (part.contains(document.activeElement) && document.activeElement !== document.body) { return true; }
    if (part.querySelector('details[open]')) { return true; }
    var fields = part.querySelectorAll('input, textarea, select');
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === 'hidden') { continue; }
      if (f.tagName === 'SELECT') {
        var o = f.options[f.selectedIndex];
        if (o && !o.defaultSelected) { return true; }
      } else if (f.value !== f.defaultValue) { return true; }
    }
    return false;
  }

  function refresh(newRev) {
    return fetch(window.location.pathname, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (!r.ok || r.redirected) { throw new Error('page ' + r.status); }
        return r.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html');
        var allDone = true;
        var changed = 0;
        var parts = document.querySelectorAll('[data-part]');
        for (var i = 0; i < parts.length; i++) {
          var part = parts[i];
          var name = part.getAttribute('data-part');
          var next = fresh.querySelector('[data-part="' + name + '"]');
          if (!next || next.getAttribute('data-v') === part.getAttribute('data-v')) { continue; }
          if (busy(part)) { allDone = false; continue; }
          part.replaceWith(document.importNode(next, true));
          changed++;
        }
        if (allDone) { rev = newRev; }
        if (changed > 0) {
          live.textContent = 'Updated with the latest changes.';
        }
      });
  }

  function tick() {
    if (document.hidden) { setTimeout(tick, INTERVAL); return; }
    fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { 'Accept': 'application/json' } })
      .then(function (r) { if (!r.ok) { throw new Error('rev ' + r.status); } return r.json(); })
      .then(function (j) {
        var newRev = String(j.rev);
        if (newRev !== rev) { return refresh(newRev); }
        return null;
      })
      .catch(function () { /* offline or signed out: try again later */ })
      .then(function () { setTimeout(tick, INTERVAL); });
  }
  setTimeout(tick, INTERVAL);
}());
