// The upload page: Uppy's Dashboard over tus, from /static/vendor/uppy/ (npm's uppy package).
// Files join the batch chosen above the Dashboard through their `batch` metadata; a new batch is
// created with the JSON API when the upload starts and, if asked, sealed when it is done.
import { Dashboard, Tus, Uppy } from "/static/vendor/uppy/uppy.min.mjs";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const target = document.getElementById("uppy");
const endpoint = new URL(target.dataset.endpoint, location.href).href;
const choice = document.getElementById("batch-choice");
const batchName = document.getElementById("new-batch-name");
const sealWhenDone = document.getElementById("seal-when-done");
const status = document.getElementById("upload-status");
const sendHeaders = { "content-type": "application/json", "X-CSRF-Token": csrf };

function showNewBatchFields() {
  document.getElementById("new-batch-fields").hidden = choice.value !== "new";
}
choice.addEventListener("change", showNewBatchFields);
showNewBatchFields();

let batch = null; // the batch this round of uploads joins: { id, name }

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: sendHeaders,
    credentials: "same-origin",
    body: JSON.stringify(body || {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${text.trim()}`);
  return JSON.parse(text);
}

function say(text, href) {
  status.textContent = text;
  if (href) {
    status.append(" ");
    const link = document.createElement("a");
    link.href = href;
    link.textContent = "Open the batch";
    status.append(link);
  }
}

const uppy = new Uppy({ autoProceed: false })
  .use(Dashboard, {
    inline: true,
    target,
    height: 420,
    width: "100%",
    showProgressDetails: true,
    proudlyDisplayPoweredByUppy: false,
  })
  .use(Tus, {
    endpoint,
    chunkSize: 5 * 1024 * 1024,
    limit: 3, // files uploading at once
    retryDelays: [0, 1000, 3000, 5000, 10000],
    headers: { "X-CSRF-Token": csrf },
    allowedMetaFields: true,
  });

// before any byte is sent: find or create the batch and put its id into every file's metadata
uppy.addPreProcessor(async (fileIDs) => {
  if (batch === null && choice.value === "new") {
    const created = await api("/api/batches", { name: batchName.value.trim() || "Upload" });
    batch = { id: created.id, name: created.name };
    const option = new Option(`${created.name} (${created.id})`, created.id, true, true);
    choice.append(option);
    showNewBatchFields();
  } else if (batch === null && choice.value) {
    batch = { id: choice.value, name: choice.selectedOptions[0].textContent };
  }
  if (batch !== null) {
    for (const id of fileIDs) uppy.setFileMeta(id, { batch: batch.id });
    say(`Uploading to batch ${batch.name}…`, `/batches/${encodeURIComponent(batch.id)}`);
  }
});

uppy.on("complete", async (result) => {
  const failed = result.failed ? result.failed.length : 0;
  if (batch === null) {
    say(`${result.successful.length} file(s) uploaded${failed ? `, ${failed} failed: retry them above` : ""}.`);
    return;
  }
  const href = `/batches/${encodeURIComponent(batch.id)}`;
  if (failed) {
    say(`${failed} file(s) failed: retry them above. The batch stays open.`, href);
    return;
  }
  let doc = null;
  try {
    if (sealWhenDone.checked) doc = await api(`/api/batches/${encodeURIComponent(batch.id)}/seal`);
  } catch (error) {
    say(`Uploaded, but the batch could not be sealed: ${error.message}`, href);
    return;
  }
  say(`Uploaded ${result.successful.length} file(s) to batch ${batch.name}${doc ? ` (${doc.state})` : ""}.`, href);
  window.lastBatch = doc || { id: batch.id };
  batch = null; // the next upload starts a new round
});

uppy.on("error", (error) => say(`Upload failed: ${error.message}`));

window.uppy = uppy; // for the browser console and the browser tests
