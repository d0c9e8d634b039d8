// tus-js-client with an API token in its `headers` option: every request carries
// Authorization: Bearer <token>. Usage: node bearer_upload.mjs ENDPOINT FILE TOKEN CHUNK_SIZE
// Prints {"upload_url": ..., "methods": [...]} on its last line.
import { createReadStream, statSync } from "node:fs";
import { basename } from "node:path";
import { Upload } from "tus-js-client";

const [endpoint, path, token, chunk] = process.argv.slice(2);
const methods = [];
const url = await new Promise((resolve, reject) => {
  const upload = new Upload(createReadStream(path), {
    endpoint,
    chunkSize: Number(chunk),
    uploadSize: statSync(path).size,
    metadata: { filename: basename(path) },
    headers: { Authorization: `Bearer ${token}` },
    retryDelays: [],
    onBeforeRequest: (req) => {
      methods.push(req.getMethod());
    },
    onError: reject,
    onSuccess: () => resolve(upload.url),
  });
  upload.start();
});
console.log(JSON.stringify({ upload_url: url, methods }));
