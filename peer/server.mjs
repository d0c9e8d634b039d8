// The peer server that tusportal is compared against: @tus/server with @tus/file-store,
// installed from npm by `npm ci` (see package.json). Used by `make conformance-peer` and `make bench`.
//
//   PORT=1080 HOST=127.0.0.1 DIR=/tmp/peer-files MAX_SIZE=0 node peer/server.mjs
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 1080);
const directory = process.env.DIR || "./peer-files";
const maxSize = Number(process.env.MAX_SIZE || 0);
const expiryMs = Number(process.env.EXPIRY_MS || 0);

const options = {
  path: "/files",
  datastore: new FileStore(
    expiryMs > 0 ? { directory, expirationPeriodInMilliseconds: expiryMs } : { directory },
  ),
};
if (maxSize > 0) options.maxSize = maxSize;

const server = new Server(options);
server.listen({ host, port }, () => {
  console.log(JSON.stringify({ event: "peer_listening", host, port, directory }));
});
