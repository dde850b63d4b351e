// Peer: Node.js http.createServer, an async generator, res.write per chunk (the classic
// article's server). GET /stream?n=N&size=S&interval=MS. Usage: node node_server.js PORT
"use strict";
const http = require("http");
const { setTimeout: sleep } = require("timers/promises");
const { once } = require("events");

async function* records(n, size, interval) {
  const payload = "x".repeat(size - 1) + "\n";
  for (let i = 0; i < n; i++) {
    if (i && interval) await sleep(interval);
    yield payload;
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname !== "/stream") {
    res.writeHead(404).end();
    return;
  }
  const q = url.searchParams;
  const n = Number(q.get("n") ?? 100);
  const size = Number(q.get("size") ?? 64);
  const interval = Number(q.get("interval") ?? 0);
  res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache" });
  let gone = false;
  res.on("close", () => { gone = true; });
  for await (const chunk of records(n, size, interval)) {
    if (gone) return;
    // Respect backpressure (1 GiB would otherwise pile up in memory).
    if (!res.write(chunk)) await once(res, "drain");
  }
  res.end();
});
server.keepAliveTimeout = 5000;
server.listen({ port: Number(process.argv[2] || 8001), host: "127.0.0.1", backlog: 4096 });
