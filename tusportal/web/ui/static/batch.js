// The batch page: refresh progress from GET /api/batches/{id} while files upload. Without this
// script the page is still complete (it is rendered by the server and refreshes itself).
const root = document.getElementById("batch");
const batchId = root.dataset.batchId;
const renderedState = root.dataset.state;
const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

function size(n) {
  if (n === null || n === undefined) return "unknown";
  if (n < 1024) return `${n} B`;
  let value = n;
  for (const unit of UNITS) {
    value /= 1024;
    if (value < 1024 || unit === UNITS[UNITS.length - 1]) {
      return value < 100 ? `${value.toFixed(1)} ${unit}` : `${value.toFixed(0)} ${unit}`;
    }
  }
}

function percent(received, total) {
  if (total === null || total === undefined) return null;
  return total === 0 ? 100 : Math.min(100, Math.floor((100 * received) / total));
}

function bar(received, total, label) {
  const wrap = document.createDocumentFragment();
  const progress = document.createElement("progress");
  progress.setAttribute("aria-label", label);
  const pct = percent(received, total);
  const text = document.createElement("span");
  if (pct === null) {
    text.textContent = ` ${size(received)} received (length not known yet)`;
  } else {
    progress.max = 100;
    progress.value = pct;
    text.textContent = ` ${pct}% · ${size(received)} of ${size(total)}`;
  }
  wrap.append(progress, text);
  return wrap;
}

function cell(content) {
  const td = document.createElement("td");
  td.append(content);
  return td;
}

function badge(state) {
  const span = document.createElement("span");
  span.className = `badge state-${state}`;
  span.textContent = state;
  return span;
}

function render(b) {
  const files = document.getElementById("batch-files");
  files.textContent = `${b.files_completed} of ${b.files_total} files complete`;
  if (b.expected_files) files.textContent += ` (${b.expected_files} expected)`;
  document.getElementById("batch-bytes").replaceChildren(
    bar(b.bytes_received, b.lengths_known ? b.bytes_total : null, "Bytes received"),
  );
  const rows = b.files.map((f) => {
    const tr = document.createElement("tr");
    tr.dataset.fileId = f.id;
    tr.append(
      cell(f.filename || f.id),
      cell(badge(f.state)),
      cell(bar(f.bytes_received, f.bytes_total, `Progress of ${f.filename || f.id}`)),
      cell(f.finished_at ? f.finished_at.slice(0, 16).replace("T", " ") : ""),
    );
    return tr;
  });
  if (rows.length) document.getElementById("batch-file-rows").replaceChildren(...rows);
}

async function refresh() {
  try {
    const response = await fetch(`/api/batches/${encodeURIComponent(batchId)}`, {
      headers: { accept: "application/json" },
      credentials: "same-origin",
    });
    if (response.ok) {
      const doc = await response.json();
      if (doc.state !== renderedState) {
        location.reload(); // completed or cancelled: the server renders the final page
        return;
      }
      render(doc);
    }
  } catch (error) {
    // the network blinked: try again on the next tick
  }
  setTimeout(refresh, 1000);
}

if (renderedState === "open" || renderedState === "sealed") setTimeout(refresh, 1000);
