// The Node reference server of Durable Streams (@durable-streams/server, pinned in
// tests/node/package-lock.json), in memory, for bench/bench_durable.py (here, where its node_modules are).
// Usage: node durable_reference.mjs PORT
import { DurableStreamTestServer } from "@durable-streams/server"

const server = new DurableStreamTestServer({ port: Number(process.argv[2]), host: "127.0.0.1" })
console.log(await server.start())
