// tus-js-client with parallelUploads: the file is split into partial uploads sent at once, then a
// final upload concatenates them. Usage: node parallel_upload.mjs <endpoint> <file> <parts> [batch]
// Prints one JSON line: the final upload URL and the requests the client made.
import { readFileSync } from "node:fs";
import { Upload } from "tus-js-client";

const [endpoint, path, parts, batch] = process.argv.slice(2);
const data = readFileSync(path);
const requests = [];
const metadata = { filename: "parallel.bin", filetype: "application/octet-stream" };
if (batch) metadata.batch = batch;

const url = await new Promise((resolve, reject) => {
  const upload = new Upload(data, {
    endpoint,
    parallelUploads: Number(parts),
    metadata,
    retryDelays: [0, 200, 500],
    onBeforeRequest(req) {
      requests.push({ method: req.getMethod(), concat: req.getHeader("Upload-Concat") || null });
    },
    onError: reject,
    onSuccess: () => resolve(upload.url),
  });
  upload.start();
});
console.log(JSON.stringify({ url, requests }));
