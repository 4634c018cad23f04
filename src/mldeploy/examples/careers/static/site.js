// The careers page: builds the estimate form from GET /api/form and answers it in the chosen mode.
// Server modes POST /api/estimate; the browser mode runs the exported ONNX model in onnxruntime-web (WASM)
// and validates with the schema exported beside it, so after it is ready no request leaves the page.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let form = null;
  let mode = null;
  let browser = null;
  let modeToken = 0;
  let pollTimer = null;
  let seenSwaps = 0;

  async function getJSON(url) {
    const response = await fetch(url);
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  function money(value) {
    return "$" + (Math.round(value / 1000) * 1000).toLocaleString("en-US");
  }

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function buildForm() {
    const fields = $("fields");
    for (const field of form.fields) {
      const box = el("div", { class: "field" });
      box.append(el("label", { for: "f-" + field.name }, field.label));
      const select = el("select", { id: "f-" + field.name, name: field.name, "aria-describedby": "e-" + field.name });
      select.append(el("option", { value: "" }, "Choose\u2026"));
      for (const choice of field.choices) select.append(el("option", { value: String(choice.value) }, choice.label));
      box.append(select);
      const error = el("p", { id: "e-" + field.name, class: "error" });
      error.hidden = true;
      box.append(error);
      fields.append(box);
    }
    const fixed = $("fixed");
    for (const item of form.fixed) {
      fixed.append(el("dt", {}, item.label));
      fixed.append(el("dd", { id: "fixed-" + item.name }, item.shown));
    }
    for (const item of form.derived) {
      fixed.append(el("dt", {}, item.shown.split(":")[0]));
      fixed.append(el("dd", {}, item.shown.split(":").slice(1).join(":").trim()));
    }
    const modes = $("mode");
    for (const m of form.modes) modes.append(el("option", { value: m.name }, m.title));
  }

  function title(name) {
    const found = form.modes.find((m) => m.name === name);
    return found ? found.title : name;
  }

  function ready(isReady, text) {
    $("mode-status").dataset.ready = String(isReady);
    $("mode-status").textContent = text;
    $("submit").disabled = !isReady;
  }

  async function setMode(name) {
    const token = ++modeToken;
    mode = name;
    clearInterval(pollTimer);
    $("notice").hidden = true;
    $("answer").hidden = true;
    ready(false, "Preparing " + title(name) + "\u2026");
    try {
      let text;
      if (name === "browser") {
        await loadBrowser();
        text = "Answered in your browser by onnxruntime-web (model file " + Math.round(browser.bytes / 1024) +
          " KiB, loaded once); nothing you choose leaves this page.";
      } else {
        const status = await getJSON("/api/status?mode=" + encodeURIComponent(name));
        text = "Answered " + status.detail + ".";
        if (name === "stream") {
          seenSwaps = status.swaps.length;
          pollTimer = setInterval(pollSwaps, 2000);
        }
      }
      if (token === modeToken) ready(true, text);
    } catch (error) {
      if (token === modeToken) ready(false, title(name) + " is not available: " + error.message);
    }
  }

  async function pollSwaps() {
    if (mode !== "stream") return;
    try {
      const status = await getJSON("/api/status?mode=stream");
      if (status.swaps.length > seenSwaps) {
        const last = status.swaps[status.swaps.length - 1];
        $("notice").textContent = "New model version: " + last.text + ".";
        $("notice").hidden = false;
        seenSwaps = status.swaps.length;
      }
    } catch (error) {
      // The next poll tries again; the form keeps working meanwhile.
    }
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = el("script", { src: src });
      script.onload = resolve;
      script.onerror = () => reject(new Error("cannot load " + src));
      document.head.append(script);
    });
  }

  async function loadBrowser() {
    if (browser) return browser;
    if (typeof ort === "undefined") await loadScript("/vendor/ort/ort.wasm.min.js");
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = location.origin + "/vendor/ort/";  // absolute, or the module import fails
    const [schema, model] = await Promise.all([
      getJSON("/model/schema.json"),
      fetch("/model/model.onnx").then((r) => {
        if (!r.ok) throw new Error("the model file did not load (" + r.status + ")");
        return r.arrayBuffer();
      }),
    ]);
    const session = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: ["wasm"] });
    browser = { schema: schema, session: session, bytes: model.byteLength };
    await runModel(firstChoices());  // the first run prepares the kernels; visitors get the steady speed
    return browser;
  }

  function firstChoices() {
    const values = {};
    for (const field of form.fields) values[field.name] = parse(field, String(field.choices[0].value));
    return values;
  }

  // --- checks, in the server's words ---
  function expected(field) {
    if (field.kind === "whole") {
      return "a whole number in [" + field.choices[0].value + ", " + field.choices[field.choices.length - 1].value + "]";
    }
    if (field.kind === "boolean") return "true or false";
    const shown = field.choices.slice(0, 8).map((c) => c.value).join(", ") + (field.choices.length > 8 ? ", ..." : "");
    return "one of [" + shown + "]";
  }

  function parse(field, raw) {
    if (field.kind === "whole") return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : undefined;
    if (field.kind === "boolean") {
      const word = raw.trim().toLowerCase();
      return ["true", "yes"].includes(word) ? true : ["false", "no"].includes(word) ? false : undefined;
    }
    return raw;
  }

  function checkLocally(raw) {
    const issues = [];
    const values = {};
    for (const field of form.fields) {
      const given = raw[field.name];
      if (given === "") {
        issues.push({ field: field.name, message: "expected " + expected(field) + ", got nothing" });
        continue;
      }
      const value = parse(field, given);
      if (value === undefined || !field.choices.some((c) => c.value === value)) {
        issues.push({ field: field.name, message: "expected " + expected(field) + ", got " + JSON.stringify(given) });
        continue;
      }
      values[field.name] = value;
    }
    if (issues.length) return { issues: issues };
    const row = modelRow(values);
    for (const field of browser.schema.fields) {  // the schema exported beside the ONNX file
      const value = row[field.name];
      if (value === null || value === undefined) continue;
      if (field.type === "category" && field.unseen === "reject" && !field.categories.includes(value)) {
        issues.push({ field: field.name, message: "expected one of [" + field.categories.join(", ") + "], got " + JSON.stringify(value) });
      } else if ((field.type === "number" || field.type === "integer") &&
                 ((field.minimum !== null && value < field.minimum) || (field.maximum !== null && value > field.maximum))) {
        issues.push({ field: field.name, message: "expected a number in [" + field.minimum + ", " + field.maximum + "], got " + value });
      }
    }
    return { issues: issues, values: values };
  }

  function modelRow(values) {
    const row = {};
    for (const item of form.fixed) row[item.name] = item.value;
    Object.assign(row, values);
    for (const item of form.derived) row[item.name] = row[item.from] + item.offset;
    return row;
  }

  async function runModel(values) {
    const row = modelRow(values);
    const feeds = {};
    for (const field of browser.schema.fields) {
      const value = row[field.name];
      feeds[field.name] = field.type === "category" || field.type === "string"
        ? new ort.Tensor("string", [value === null || value === undefined ? "" : String(value)], [1, 1])
        : new ort.Tensor("float64", Float64Array.of(value === null || value === undefined ? NaN : Number(value)), [1, 1]);
    }
    const out = await browser.session.run(feeds);
    if (out.refused.data[0]) throw new Error("the model cannot score this profile");
    const value = out.prediction.data[0];
    const model = browser.schema.model;
    const low = model.metrics.residual_p10;
    const high = model.metrics.residual_p90;
    const hasRange = typeof low === "number" && typeof high === "number";
    return {
      estimate: value, low: hasRange ? value + low : null, high: hasRange ? value + high : null,
      model_name: model.name, model_version: model.version, mode: "browser",
    };
  }

  // --- answers ---
  function clearErrors() {
    for (const field of form.fields) {
      $("f-" + field.name).removeAttribute("aria-invalid");
      $("e-" + field.name).hidden = true;
      $("e-" + field.name).textContent = "";
    }
  }

  function showIssues(issues) {
    const general = [];
    for (const issue of issues) {
      const message = $("e-" + issue.field);
      if (!message) {
        general.push(issue.field + ": " + issue.message);
        continue;
      }
      message.textContent = issue.message;
      message.hidden = false;
      $("f-" + issue.field).setAttribute("aria-invalid", "true");
    }
    const first = issues.map((i) => $("f-" + i.field)).find((node) => node);
    if (first) first.focus();
    if (general.length) showFailure(general.join("; "));
  }

  function showFailure(text) {
    const box = $("answer");
    box.className = "answer failed";
    box.textContent = "No estimate: " + text;
    box.hidden = false;
  }

  function showAnswer(answer, elapsedMs) {
    const box = $("answer");
    box.className = "answer";
    box.replaceChildren();
    let headline = "About " + money(answer.estimate);
    if (answer.low !== null) headline += "; most offers between " + money(answer.low) + " and " + money(answer.high);
    box.append(el("p", { class: "headline" }, headline + "."));
    box.append(el("p", {}, "Model " + answer.model_name + " version " + answer.model_version + ", answered by " +
      title(answer.mode) + " in " + elapsedMs.toFixed(1) + " ms."));
    Object.assign(box.dataset, {
      estimate: String(answer.estimate), low: String(answer.low), high: String(answer.high),
      modelVersion: String(answer.model_version), mode: answer.mode, elapsedMs: String(elapsedMs),
    });
    box.dataset.count = String(Number(box.dataset.count || 0) + 1);
    box.hidden = false;
  }

  async function submit(event) {
    event.preventDefault();
    clearErrors();
    const started = performance.now();
    const raw = {};
    for (const field of form.fields) raw[field.name] = $("f-" + field.name).value;
    try {
      if (mode === "browser") {
        const checked = checkLocally(raw);
        if (checked.issues.length) return showIssues(checked.issues);
        const answer = await runModel(checked.values);
        return showAnswer(answer, performance.now() - started);
      }
      const response = await fetch("/api/estimate?mode=" + encodeURIComponent(mode), {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(raw),
      });
      const body = await response.json();
      if (response.status === 422) return showIssues(body.issues);
      if (!response.ok) return showFailure(body.error);
      showAnswer(body, performance.now() - started);
    } catch (error) {
      showFailure(error.message);
    }
  }

  async function start() {
    try {
      form = await getJSON("/api/form");
    } catch (error) {
      ready(false, "The form could not load: " + error.message);
      return;
    }
    buildForm();
    const wanted = new URLSearchParams(location.search).get("mode");
    const first = form.modes.some((m) => m.name === wanted) ? wanted : form.mode;
    $("mode").value = first;
    $("mode").addEventListener("change", () => setMode($("mode").value));
    $("estimate-form").addEventListener("submit", submit);
    await setMode(first);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
