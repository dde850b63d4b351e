// Load for Durable Streams servers (bench/bench_durable.py): appends per second from W
// concurrent writers, then the fan-out of K SSE readers following one stream while one
// writer appends M messages (each reader's delay from a POST's start to the message's
// arrival). Plain fetch for both, so the client costs the same against every server.
// Usage: node durable_load.mjs BASE_URL APPENDS WRITERS READERS MESSAGES
const [base, appendsArg, writersArg, readersArg, messagesArg] = process.argv.slice(2)
const appends = Number(appendsArg)
const writers = Number(writersArg)
const readers = Number(readersArg)
const messages = Number(messagesArg)
const id = `${Date.now()}-${Math.random().toString(36).slice(2)}`
const text = { "Content-Type": "text/plain" }

async function put(path) {
  const r = await fetch(base + path, { method: "PUT", headers: text })
  if (r.status !== 201) throw new Error(`PUT ${path}: ${r.status}`)
}

// 1. Appends/s: W writers, 64-byte bodies, each waits for its answer before the next.
const appendPath = `/v1/stream/bench-append-${id}`
await put(appendPath)
const body = "x".repeat(64)
const t0 = performance.now()
await Promise.all(
  Array.from({ length: writers }, async () => {
    for (let i = 0; i < appends / writers; i++) {
      const r = await fetch(base + appendPath, { method: "POST", headers: text, body })
      if (r.status !== 204) throw new Error(`POST: ${r.status}`)
      await r.arrayBuffer()
    }
  }),
)
const appendsPerS = appends / ((performance.now() - t0) / 1000)

// 2. Fan-out: K SSE readers on one stream, one writer.
const fanPath = `/v1/stream/bench-fan-${id}`
await put(fanPath)
const sentAt = []
const delays = []
const complete = []
let ready = 0
let readyAll
const allReady = new Promise((r) => (readyAll = r))
const controllers = []
const reading = Array.from({ length: readers }, async () => {
  const controller = new AbortController()
  controllers.push(controller)
  const r = await fetch(`${base}${fanPath}?offset=-1&live=sse`, { signal: controller.signal })
  const reader = r.body.getReader()
  const decoder = new TextDecoder()
  let buffer = ""
  let seen = 0
  let announced = false
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      const now = performance.now()
      buffer += decoder.decode(value, { stream: true })
      let end
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (block.startsWith("event: control") && !announced) {
          announced = true
          if (++ready === readers) readyAll()
        } else if (block.startsWith("event: data")) {
          const n = Number(block.slice(block.indexOf("data:") + 5))
          delays.push(now - sentAt[n])
          if (++seen === messages) {
            complete.push(true)
            controller.abort()
            return
          }
        }
      }
    }
  } catch (err) {
    if (err.name !== "AbortError") throw err
  }
})
await allReady
for (let n = 0; n < messages; n++) {
  sentAt[n] = performance.now()
  const r = await fetch(base + fanPath, { method: "POST", headers: text, body: String(n) })
  if (r.status !== 204) throw new Error(`POST: ${r.status}`)
  await r.arrayBuffer()
  await new Promise((r) => setTimeout(r, 10))
}
const timeout = setTimeout(() => controllers.forEach((c) => c.abort()), 10000)
await Promise.allSettled(reading)
clearTimeout(timeout)
delays.sort((a, b) => a - b)
const pct = (p) => delays[Math.min(delays.length - 1, Math.floor(p * delays.length))]
console.log(
  JSON.stringify({
    appendsPerS,
    readers,
    messages,
    completeReaders: complete.length,
    deliveries: delays.length,
    p50: pct(0.5),
    p99: pct(0.99),
    max: delays[delays.length - 1],
  }),
)
process.exit(0)
