// Spyglass pages work without this script; it only makes them quicker to use:
// - "/" focuses the search box;
// - the trace list shows new traces by polling its own rows;
// - on a trace, selecting a span loads its details without a reload, and j/k step through
//   the LLM calls.
// Every piece of HTML inserted here comes from the server's templates, which escape all
// span content; the script never builds markup from data.
"use strict";

(function () {
  const POLL_MS = 2500;

  function typingInField(event) {
    const target = event.target;
    return target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  // --- the trace list: new traces appear without a reload -----------------------------------
  function pollTraceRows(tbody) {
    const source = tbody.dataset.live;
    const status = document.getElementById("live-status");
    if (status) status.hidden = false;
    let last = tbody.innerHTML;
    let seen = new Set([...tbody.querySelectorAll("tr[data-trace-id]")].map((tr) => tr.dataset.traceId));
    let busy = false;

    async function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const reply = await fetch(source, { headers: { "accept": "text/html" }, credentials: "same-origin" });
        if (!reply.ok) return;
        const html = await reply.text();
        if (html === last) return;
        last = html;
        tbody.innerHTML = html;
        const now = new Set();
        for (const row of tbody.querySelectorAll("tr[data-trace-id]")) {
          now.add(row.dataset.traceId);
          if (!seen.has(row.dataset.traceId)) row.classList.add("is-new");
        }
        seen = now;
      } catch (error) {
        // The collector is restarting or gone: try again on the next tick.
      } finally {
        busy = false;
      }
    }
    setInterval(refresh, POLL_MS);
    document.addEventListener("visibilitychange", refresh);
  }

  // --- a trace: the detail pane follows the selected span -----------------------------------
  function setupTrace(list) {
    const traceId = list.dataset.traceId;
    const detail = document.getElementById("detail");
    const links = () => [...list.querySelectorAll("a[data-span]")];

    function markSelected(spanId) {
      for (const link of links()) {
        const selected = link.dataset.span === spanId;
        link.parentElement.classList.toggle("is-selected", selected);
        if (selected) link.setAttribute("aria-current", "true");
        else link.removeAttribute("aria-current");
      }
    }

    async function select(spanId, push) {
      markSelected(spanId);
      const url = `/partials/traces/${traceId}/spans/${spanId}`;
      try {
        const reply = await fetch(url, { credentials: "same-origin" });
        if (!reply.ok) throw new Error(String(reply.status));
        detail.innerHTML = await reply.text();
      } catch (error) {
        window.location.href = `/traces/${traceId}?span=${spanId}`;
        return;
      }
      if (push) history.pushState({ span: spanId }, "", `/traces/${traceId}?span=${spanId}`);
    }

    list.addEventListener("click", (event) => {
      const link = event.target instanceof Element ? event.target.closest("a[data-span]") : null;
      if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      select(link.dataset.span, true);
    });

    window.addEventListener("popstate", () => {
      const spanId = new URLSearchParams(window.location.search).get("span");
      if (spanId) select(spanId, false);
    });

    document.addEventListener("keydown", (event) => {
      if (typingInField(event) || event.metaKey || event.ctrlKey || event.altKey) return;
      if (event.key !== "j" && event.key !== "k") return;
      const calls = [...list.querySelectorAll(".wf-row.is-llm a[data-span]")];
      if (!calls.length) return;
      const current = calls.findIndex((link) => link.parentElement.classList.contains("is-selected"));
      const step = event.key === "j" ? 1 : -1;
      const next = current === -1 ? 0 : Math.min(Math.max(current + step, 0), calls.length - 1);
      event.preventDefault();
      calls[next].scrollIntoView({ block: "nearest" });
      calls[next].focus({ preventScroll: true });
      select(calls[next].dataset.span, true);
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || typingInField(event)) return;
    const search = document.getElementById("search");
    if (search) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });

  const rows = document.getElementById("trace-rows");
  if (rows && rows.dataset.live) pollTraceRows(rows);
  const waterfall = document.getElementById("wf-rows");
  if (waterfall) setupTrace(waterfall);
})();
