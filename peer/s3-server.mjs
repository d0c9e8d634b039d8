// The S3 peer that tusportal is compared against in `make bench`: @tus/server with @tus/s3-store
// (installed by `npm ci`, see package.json), with the store's defaults (8 MiB parts).
//
//   PORT=1080 HOST=127.0.0.1 ENDPOINT=http://127.0.0.1:8333 BUCKET=b REGION=us-east-1 \
//   ACCESS=... SECRET=... node peer/s3-server.mjs
import { Server } from "@tus/server";
import { S3Store } from "@tus/s3-store";

const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 1080);

const server = new Server({
  path: "/files",
  datastore: new S3Store({
    s3ClientConfig: {
      bucket: process.env.BUCKET,
      region: process.env.REGION || "us-east-1",
      endpoint: process.env.ENDPOINT,
      forcePathStyle: true,
      credentials: { accessKeyId: process.env.ACCESS, secretAccessKey: process.env.SECRET },
    },
  }),
});
server.listen({ host, port }, () => {
  console.log(JSON.stringify({ event: "peer_s3_listening", host, port }));
});
