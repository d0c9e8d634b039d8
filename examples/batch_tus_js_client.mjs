// Upload several files as one batch with tus-js-client under node.
//
//   uv run node examples/batch_tus_js_client.mjs [TUS_URL]
//
// Creates a batch with the JSON API, uploads three files whose metadata carries {batch: <id>}
// (one of them with parallelUploads, which still counts as one file), seals the batch and waits
// for it to complete.
import { Upload } from "tus-js-client";
import { randomBytes } from "node:crypto";

const endpoint = process.argv[2] || process.env.TUS_URL || "http://127.0.0.1:8080/files/";
const api = new URL("/api/batches", endpoint).href;

const batch = await (
  await fetch(api, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "tus-js-client example", expected_files: 3 }),
  })
).json();
console.log(`batch: ${batch.id}`);

function send(name, data, parallelUploads = 1) {
  return new Promise((resolve, reject) => {
    const upload = new Upload(data, {
      endpoint,
      parallelUploads,
      chunkSize: 256 * 1024,
      metadata: { filename: name, batch: batch.id },
      onError: reject,
      onSuccess: () => resolve(upload.url),
    });
    upload.start();
  });
}

for (const [name, size, parts] of [["a.bin", 300000, 1], ["b.bin", 90000, 1], ["c.bin", 2000000, 3]]) {
  console.log(`uploaded ${name}: ${await send(name, randomBytes(size), parts)}`);
}

// expected_files: 3 closes the batch; it completes once every file has finished
for (let i = 0; i < 60; i++) {
  const doc = await (await fetch(`${api}/${batch.id}`)).json();
  console.log(`batch ${doc.state}: ${doc.files_completed}/${doc.files_total} files`);
  if (doc.state === "completed") process.exit(0);
  await new Promise((r) => setTimeout(r, 500));
}
process.exit(1);
