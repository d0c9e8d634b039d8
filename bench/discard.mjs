// The "client ceiling" server: answers tus-shaped responses and drops every body, so the benchmark
// client measured against it shows how fast the client itself can go on this machine.
//
//   PORT=1090 HOST=127.0.0.1 node bench/discard.mjs
//
// POST -> 201 + Location (+ Upload-Offset when a body came with it), PATCH -> 204 + Upload-Offset,
// HEAD -> 200 + Upload-Offset/Upload-Length, DELETE -> 204, GET /healthz -> 200. It keeps only
// two numbers per upload, never the bytes.
import http from "node:http";
import { randomBytes } from "node:crypto";

const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 1090);
const uploads = new Map();
const tus = { "Tus-Resumable": "1.0.0", "Cache-Control": "no-store" };

const server = http.createServer((req, res) => {
  let received = 0;
  req.on("data", (chunk) => {
    received += chunk.length;
  });
  req.on("end", () => {
    const id = req.url.startsWith("/files/") ? req.url.slice("/files/".length) : "";
    const upload = uploads.get(id);
    if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200, { "Content-Length": "2" }).end("ok");
    } else if (req.method === "POST" && (req.url === "/files" || req.url === "/files/")) {
      const newId = randomBytes(16).toString("hex");
      const length = Number(req.headers["upload-length"] || 0);
      uploads.set(newId, { length, offset: received });
      res
        .writeHead(201, {
          ...tus,
          Location: `http://${host}:${port}/files/${newId}`,
          "Upload-Offset": String(received),
          "Content-Length": "0",
        })
        .end();
    } else if (req.method === "PATCH" && upload) {
      upload.offset += received;
      res.writeHead(204, { ...tus, "Upload-Offset": String(upload.offset) }).end();
    } else if (req.method === "HEAD" && upload) {
      res
        .writeHead(200, {
          ...tus,
          "Upload-Offset": String(upload.offset),
          "Upload-Length": String(upload.length),
        })
        .end();
    } else if (req.method === "DELETE" && upload) {
      uploads.delete(id);
      res.writeHead(204, tus).end();
    } else if (req.method === "OPTIONS") {
      res.writeHead(204, { ...tus, "Tus-Version": "1.0.0", "Tus-Extension": "creation" }).end();
    } else {
      res.writeHead(404, { ...tus, "Content-Length": "0" }).end();
    }
  });
});
server.keepAliveTimeout = 120_000;
server.requestTimeout = 0;
server.listen({ host, port }, () => {
  console.log(JSON.stringify({ event: "discard_listening", host, port }));
});
