// Preloaded into the peer server by the temporary `tus_url` fixture (node --import ...).
// @tus/server 2.4.5 on Node 24 crashes with ERR_INVALID_STATE ("ReadableStream is already
// closed", thrown inside undici) when a client aborts a PATCH mid-body, which tus-js-client's
// abort() does. Log that one error and keep serving; anything else still crashes.
process.on("uncaughtException", (error) => {
  if (error?.code === "ERR_INVALID_STATE") {
    console.log(JSON.stringify({ event: "peer_abort_error_ignored", message: error.message }));
    return;
  }
  console.error(error);
  process.exit(1);
});
