// alertd console: small progressive enhancement. Every page works without it.
"use strict";
(function () {
  // Live alert list: a server-sent event says "something changed"; the rows are fetched again
  // (server-rendered). Without EventSource, or while it is down, a periodic refresh.
  const live = document.querySelector("[data-live]");
  if (live) {
    let timer = null;
    const refresh = async function () {
      const url = new URL(window.location.href);
      url.searchParams.set("fragment", "1");
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
        // Logged out meanwhile (the session expired): show the login page, not a form in the list.
        if (response.redirected) { window.location.reload(); return; }
        if (!response.ok) return;
        const checked = new Set(Array.from(live.querySelectorAll("input[name=ids]:checked"), (el) => el.value));
        live.innerHTML = await response.text();
        live.querySelectorAll("input[name=ids]").forEach((el) => { el.checked = checked.has(el.value); });
        live.dataset.refreshed = String(Date.now());
      } catch (e) { /* offline: the next notice or the periodic refresh tries again */ }
    };
    const soon = function () { clearTimeout(timer); timer = setTimeout(refresh, 50); };
    if (window.EventSource) {
      const source = new EventSource(live.dataset.live);
      let opened = false;
      source.addEventListener("alerts", soon);
      // After a reconnect, events may have been missed: look once.
      source.addEventListener("open", function () { if (opened) soon(); opened = true; live.dataset.connected = "1"; });
    }
    setInterval(refresh, 30000);
  }
  // Copy buttons: data-copy names the element whose text is copied.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", async function () {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      try { await navigator.clipboard.writeText(source.textContent.trim()); button.textContent = "Copied"; }
      catch (e) { window.getSelection().selectAllChildren(source); }
    });
  });
  // The schedule timeline: positions from data attributes (no inline styles under the CSP).
  document.querySelectorAll(".shift[data-left]").forEach(function (el) {
    el.style.left = el.dataset.left + "%";
    el.style.width = el.dataset.width + "%";
  });
})();
