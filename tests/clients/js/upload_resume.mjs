// Driven by tests/clients/test_tus_js_client.py: upload FILE to ENDPOINT with tus-js-client in
// CHUNK_SIZE chunks, abort once more than 40 % has been sent, then resume with a new Upload
// given the upload URL, and print one JSON line describing what happened.
//
//   node upload_resume.mjs ENDPOINT FILE CHUNK_SIZE
import { createReadStream, statSync } from "node:fs";
import { basename } from "node:path";
import { Upload } from "tus-js-client";

const [endpoint, path, chunkSizeArg] = process.argv.slice(2);
const chunkSize = Number(chunkSizeArg);
const size = statSync(path).size;

function newUpload(options) {
  return new Upload(createReadStream(path), {
    endpoint,
    chunkSize,
    uploadSize: size,
    metadata: { filename: basename(path), filetype: "application/octet-stream" },
    retryDelays: [],
    ...options,
  });
}

// Records the method and Upload-Offset of every request an Upload makes.
function recorder(requests) {
  return (req) => {
    requests.push({ method: req.getMethod(), offset: req.getHeader("Upload-Offset") ?? null });
  };
}

const firstRequests = [];
const aborted = await new Promise((resolve, reject) => {
  const upload = newUpload({
    onBeforeRequest: recorder(firstRequests),
    onError: reject,
    onSuccess: () => reject(new Error("finished before it could be aborted")),
    onProgress: (sent, total) => {
      if (sent > total * 0.4) {
        upload.options.onProgress = null;
        upload.abort().then(() => resolve({ url: upload.url, sent }), reject);
      }
    },
  });
  upload.start();
});

const head = await fetch(aborted.url, {
  method: "HEAD",
  headers: { "Tus-Resumable": "1.0.0" },
  signal: AbortSignal.timeout(30_000),
});
const offsetAtResume = Number(head.headers.get("upload-offset"));

const resumedRequests = [];
const finalUrl = await new Promise((resolve, reject) => {
  const upload = newUpload({
    uploadUrl: aborted.url,
    onBeforeRequest: recorder(resumedRequests),
    onError: reject,
    onSuccess: () => resolve(upload.url),
  });
  upload.start();
});

console.log(
  JSON.stringify({
    upload_url: aborted.url,
    final_url: finalUrl,
    size,
    sent_before_abort: aborted.sent,
    offset_at_resume: offsetAtResume,
    first_requests: firstRequests,
    resumed_requests: resumedRequests,
  }),
);
