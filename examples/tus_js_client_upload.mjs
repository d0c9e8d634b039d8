// Upload a file to tusportal with tus-js-client under Node, abort it mid-way, and resume.
//
//   uv run node examples/tus_js_client_upload.mjs [FILE] [TUS_URL]
//   TUS_URL=http://127.0.0.1:8080/files/ uv run node examples/tus_js_client_upload.mjs photo.jpg
//
// Without FILE, 4 MiB of random bytes are uploaded. The file goes up in 512 KiB PATCH requests;
// once progress passes 40 % the upload is aborted, as if the program had been killed or the
// connection had dropped. A second Upload of the same file finds the first one's URL in a
// FileUrlStorage (a JSON file; browsers use localStorage instead) through the file's
// fingerprint, asks the server for its offset and sends only what is missing.
import { randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { FileUrlStorage, Upload } from "tus-js-client";

const endpoint = process.argv[3] || process.env.TUS_URL || "http://127.0.0.1:8080/files/";
const chunkSize = 512 * 1024;
const work = mkdtempSync(join(tmpdir(), "tus-js-example-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

let path = process.argv[2];
if (!path) {
  path = join(work, "random.bin");
  writeFileSync(path, randomBytes(4 * 1024 * 1024));
}
const size = statSync(path).size;
// A real application keeps this file in a stable place, so that a restarted process resumes.
const urlStorage = new FileUrlStorage(join(work, "tus-urls.json"));
writeFileSync(urlStorage.path, "{}");

// HEAD tells what the server has: Upload-Offset bytes of Upload-Length.
async function head(url) {
  const response = await fetch(url, {
    method: "HEAD",
    headers: { "Tus-Resumable": "1.0.0" },
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok) throw new Error(`HEAD ${url}: HTTP ${response.status}`);
  return {
    offset: Number(response.headers.get("upload-offset")),
    length: Number(response.headers.get("upload-length")),
  };
}

function newUpload(callbacks) {
  return new Upload(createReadStream(path), {
    endpoint,
    chunkSize,
    uploadSize: size,
    metadata: { filename: basename(path), filetype: "application/octet-stream" },
    urlStorage,
    retryDelays: [0, 500, 1000],
    ...callbacks,
  });
}

// First attempt: abort as soon as more than 40 % has been sent.
const firstUrl = await new Promise((resolve, reject) => {
  const upload = newUpload({
    onError: reject,
    onSuccess: () => resolve(upload.url), // a tiny file can finish before 40 %
    onProgress: (sent, total) => {
      if (sent > total * 0.4) {
        upload.options.onProgress = null;
        console.log(`aborting at ${sent} of ${total} bytes sent`);
        upload.abort().then(() => resolve(upload.url), reject);
      }
    },
  });
  upload.start();
});
console.log(`upload URL: ${firstUrl}`);
console.log(`the server has ${(await head(firstUrl)).offset} bytes; resuming`);

// Second attempt: a new Upload object, as a restarted program would make.
const finalUrl = await new Promise((resolve, reject) => {
  const upload = newUpload({ onError: reject, onSuccess: () => resolve(upload.url) });
  upload
    .findPreviousUploads()
    .then((previous) => {
      if (previous.length === 0) throw new Error("no previous upload found to resume");
      upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    })
    .catch(reject);
});
if (finalUrl !== firstUrl) throw new Error(`did not resume: new upload ${finalUrl}`);

// Verify with HEAD: the upload is complete when Upload-Offset equals Upload-Length.
const { offset, length } = await head(finalUrl);
if (offset !== size || length !== size) {
  console.error(`incomplete: offset ${offset}, length ${length}, file ${size} bytes`);
  process.exit(1);
}
console.log(`complete: ${offset} of ${length} bytes`);
