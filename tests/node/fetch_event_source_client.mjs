// @microsoft/fetch-event-source, the fetch-based SSE client, against a streamer SSE stream
// (driven by tests/real/test_sse_clients.py, which starts the server).
//
//   node fetch_event_source_client.mjs <url>
//
// Prints one JSON array on stdout: every message handed to onmessage, as {event, id, data,
// retry} (as the library gives them: an unnamed event's type is "", no retry is null). Stops
// at the `end` or `error` event by aborting, as a page does; exits 2 after 15 s, so it
// cannot hang.
import { fetchEventSource } from "@microsoft/fetch-event-source";

// The browser globals the library touches (lib/esm/fetch.js, 2.0.1): document's
// visibilitychange listener (removed on dispose even with openWhenHidden), window.setTimeout /
// clearTimeout for its retry timer. Node 20 has fetch, AbortController and TextDecoder.
globalThis.window = globalThis;
globalThis.document = { hidden: false, addEventListener() {}, removeEventListener() {} };

const [url] = process.argv.slice(2);
const timer = setTimeout(() => {
  process.stderr.write("fetch_event_source_client: no end event within 15 s\n");
  process.exit(2);
}, 15_000);

const events = [];
const controller = new AbortController();
await fetchEventSource(url, {
  signal: controller.signal,
  openWhenHidden: true,
  onmessage(message) {
    const { event, id, data, retry } = message;
    events.push({ event, id, data, retry: retry ?? null });
    if (event === "end" || event === "error") controller.abort();
  },
  onclose() {
    throw new Error("the stream closed before its end event"); // else it would reconnect
  },
  onerror(error) {
    throw error; // no retry: the test sees the failure
  },
});
clearTimeout(timer);
process.stdout.write(JSON.stringify(events) + "\n");
