// A job's status line: progress bar with message, cancel button, readable error with the traceback on demand.
import { h, announce } from "./dom.js";

/** A status line for one job slot; call update() when `jobs` changes. */
export function statusLine(model, slot, root) {
  const bar = h("progress", { class: "nw-progress", max: "1", value: "0" });
  const message = h("span", { class: "nw-status-message" });
  const cancel = h("button", { class: "nw-button nw-cancel", text: "Cancel", title: "Stop this job",
    onclick: () => model.send({ action: "cancel", slot }) });
  const error = h("div", { class: "nw-error", role: "alert" });
  const trace = h("pre", { class: "nw-traceback", hidden: true });
  const toggle = h("button", { class: "nw-link", text: "show traceback",
    onclick: () => { trace.hidden = !trace.hidden; toggle.textContent = trace.hidden ? "show traceback" : "hide traceback"; } });
  const el = h("div", { class: "nw-status", "data-slot": slot }, [h("div", { class: "nw-status-row" }, [bar, message, cancel]), error, toggle, trace]);
  let lastJob = -1;
  let seenProgress = false;
  let seenStep = false;

  function update() {
    const st = (model.get("jobs") || {})[slot] || { state: "idle" };
    el.dataset.state = st.state;
    const running = st.state === "running";
    bar.hidden = !running;
    cancel.hidden = !running;
    bar.value = st.fraction || 0;
    message.textContent = running ? (st.message === "queued" ? "queued: another job is using the model" : st.message || "working")
      : st.state === "cancelled" ? "cancelled" : st.state === "notice" ? st.message : "";
    error.textContent = st.state === "error" ? st.error : "";
    error.hidden = st.state !== "error";
    trace.textContent = st.traceback || "";
    toggle.hidden = !(st.state === "error" && st.traceback);
    if (st.state !== "error") trace.hidden = true;
    if (st.job !== lastJob) { lastJob = st.job; seenProgress = false; seenStep = false; }
    // "progress": the job left the queue and reports; "step": the engine reported its first unit of work
    if (running && !seenProgress && st.message !== "queued") {
      seenProgress = true;
      announce(root, slot, "progress", { fraction: st.fraction, message: st.message, job: st.job });
    }
    if (running && !seenStep && st.fraction > 0) {
      seenStep = true;
      announce(root, slot, "step", { fraction: st.fraction, message: st.message, job: st.job });
    }
  }
  update();
  return { el, update };
}

/** "Copy as code": shows the engine call behind a panel and copies it to the clipboard. */
export function codeBox(model, key) {
  const pre = h("pre", { class: "nw-code", hidden: true });
  const copy = h("button", { class: "nw-button", text: "Copy as code", title: "Copy the engine call that reproduces this panel",
    onclick: async () => {
      const text = (model.get("code") || {})[key] || "";
      pre.hidden = false;
      try { await navigator.clipboard.writeText(text); copy.textContent = "Copied"; }
      catch { copy.textContent = "Select and copy below"; }
      setTimeout(() => { copy.textContent = "Copy as code"; }, 1500);
    } });
  const el = h("div", { class: "nw-codebox", "data-code": key }, [copy, pre]);
  function update() {
    const text = (model.get("code") || {})[key] || "";
    pre.textContent = text;
    el.hidden = !text;
  }
  update();
  return { el, update };
}
