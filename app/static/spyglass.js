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
  const TEXT_INPUTS = new Set(["text", "search", "email", "url", "number", "password", "tel"]);

  // Typing in a text field must not trigger shortcuts; a focused radio or checkbox (the
  // "Raw JSON" switch, "Show all") is not typing.
  function typingInField(event) {
    const target = event.target;
    if (!(target instanceof HTMLElement)) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") {
      return true;
    }
    return target.tagName === "INPUT" && TEXT_INPUTS.has(target.type || "text");
  }

  // --- the trace list: new traces appear without a reload -----------------------------------
  function pollTraceRows(tbody) {
    const source = tbody.dataset.live;
    const status = document.getElementById("live-status");
    const button = document.getElementById("live-update");
    const older = document.getElementById("older-link");
    let digest = tbody.dataset.digest;
    let pending = null; // rows that arrived while the reader was busy further down
    let busy = false;
    if (status) status.hidden = false;

    function apply(update) {
      const seen = new Set([...tbody.querySelectorAll("tr[data-trace-id]")].map((tr) => tr.dataset.traceId));
      tbody.innerHTML = update.html;
      for (const row of tbody.querySelectorAll("tr[data-trace-id]")) {
        if (!seen.has(row.dataset.traceId)) row.classList.add("is-new");
      }
      // The page after these rows moved too: point "Older" at it, so nothing falls between.
      if (older) {
        if (update.cursor) {
          const query = new URLSearchParams(tbody.dataset.query || "");
          query.set("cursor", update.cursor);
          older.href = "/?" + query.toString();
          older.hidden = false;
        } else {
          older.removeAttribute("href");
          older.hidden = true;
        }
      }
      digest = update.digest;
      pending = null;
      if (button) button.hidden = true;
    }

    // Rows never move under a reader who has scrolled down or points at them.
    function readerIsBusy() {
      return window.scrollY > 80 || tbody.matches(":hover");
    }

    async function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const reply = await fetch(source, { credentials: "same-origin" });
        if (!reply.ok) return;
        const update = {
          digest: reply.headers.get("x-rows-digest"),
          cursor: reply.headers.get("x-next-cursor"),
          html: await reply.text(),
        };
        if (update.digest === digest) return;
        if (readerIsBusy()) {
          pending = update;
          if (button) button.hidden = false;
        } else {
          apply(update);
        }
      } catch (error) {
        // The collector is restarting or gone: try again on the next tick.
      } finally {
        busy = false;
      }
    }
    if (button) button.addEventListener("click", () => pending && apply(pending));
    setInterval(refresh, POLL_MS);
    document.addEventListener("visibilitychange", refresh);
  }

  // --- a trace: the detail pane follows the selected span -----------------------------------
  function setupTrace(list) {
    const traceId = list.dataset.traceId;
    const detail = document.getElementById("detail");
    const query = list.dataset.query || "";
    const links = () => [...list.querySelectorAll("a[data-span]")];
    let shown = detail.querySelector(".span-detail")?.dataset.spanId || null;
    let latest = 0; // the newest request wins, whatever order the replies come back in

    function urlFor(spanId) {
      const params = new URLSearchParams({ span: spanId });
      if (query) params.set("q", query);
      return `/traces/${traceId}?${params}`;
    }

    function markSelected(spanId) {
      for (const link of links()) {
        const selected = link.dataset.span === spanId;
        link.parentElement.classList.toggle("is-selected", selected);
        if (selected) link.setAttribute("aria-current", "true");
        else link.removeAttribute("aria-current");
      }
    }

    async function select(spanId, push) {
      if (!spanId) return;
      markSelected(spanId);
      if (push) history.pushState({ span: spanId }, "", urlFor(spanId));
      if (spanId === shown) return;
      const request = ++latest;
      let html;
      try {
        const reply = await fetch(`/partials/traces/${traceId}/spans/${spanId}`, { credentials: "same-origin" });
        if (!reply.ok) throw new Error(String(reply.status));
        html = await reply.text();
      } catch (error) {
        if (request === latest) window.location.href = urlFor(spanId);
        return;
      }
      if (request !== latest) return;
      detail.innerHTML = html;
      shown = spanId;
    }

    list.addEventListener("click", (event) => {
      const link = event.target instanceof Element ? event.target.closest("a[data-span]") : null;
      if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      select(link.dataset.span, true);
    });

    // Back and forward: the span in the URL, or the trace's default for a URL without one.
    // Fragment steps (a tool call's link to its result) keep the pane as it is.
    window.addEventListener("popstate", () => {
      const spanId = new URLSearchParams(window.location.search).get("span") || list.dataset.defaultSpan;
      select(spanId, false);
    });

    document.addEventListener("keydown", (event) => {
      if (typingInField(event) || event.metaKey || event.ctrlKey || event.altKey) return;
      if (event.key !== "j" && event.key !== "k") return;
      const rows = links();
      const here = rows.findIndex((link) => link.parentElement.classList.contains("is-selected"));
      const step = event.key === "j" ? 1 : -1;
      // The next LLM call after (or before) the selected row, whatever kind of span that is.
      let next = here === -1 ? (step === 1 ? 0 : rows.length - 1) : here + step;
      const isVisibleCall = (link) => link.parentElement.classList.contains("is-llm") && !link.parentElement.hidden;
      while (next >= 0 && next < rows.length && !isVisibleCall(rows[next])) {
        next += step;
      }
      if (next < 0 || next >= rows.length) return;
      event.preventDefault();
      rows[next].scrollIntoView({ block: "nearest" });
      rows[next].focus({ preventScroll: true });
      select(rows[next].dataset.span, true);
    });

    // Folding: a span's button hides the rows under it (deeper rows that follow it), and
    // unfolding shows them again, except under spans that are still folded themselves.
    function fold(row, folded) {
      const depth = Number(row.dataset.depth);
      const button = row.querySelector(".wf-toggle");
      button.setAttribute("aria-expanded", String(!folded));
      button.textContent = folded ? "▸" : "▾";
      let hiddenBelow = Infinity;
      for (let next = row.nextElementSibling; next; next = next.nextElementSibling) {
        const nextDepth = Number(next.dataset.depth);
        if (nextDepth <= depth) break;
        if (folded) {
          next.hidden = true;
          continue;
        }
        if (nextDepth > hiddenBelow) continue;
        hiddenBelow = Infinity;
        next.hidden = false;
        if (next.querySelector(".wf-toggle[aria-expanded='false']")) hiddenBelow = nextDepth;
      }
    }
    for (const button of list.querySelectorAll(".wf-toggle")) {
      button.hidden = false;
      button.addEventListener("click", () => {
        fold(button.parentElement, button.getAttribute("aria-expanded") === "true");
      });
    }

    // A link to a span deep in a long trace opens with its row in view (the waterfall
    // scrolls on its own; the page stays where it is).
    const box = list.closest(".waterfall");
    const chosen = list.querySelector(".is-selected");
    if (box && chosen && chosen.offsetTop > box.clientHeight) {
      box.scrollTop = chosen.offsetTop - box.clientHeight / 2;
    }
    history.replaceState({ span: shown }, "");
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
