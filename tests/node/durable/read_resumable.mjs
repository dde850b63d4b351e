// @durable-streams/client reading a view's resumable stream as a Durable Stream
// (tests/real/test_durable_clients.py): follows URL from OFFSET in MODE (sse or long-poll)
// until the stream's in-band end ({"end": ...} or {"error": ...}), then prints one JSON line
// with every item it got, in order.
import { stream } from "@durable-streams/client"

const [url, offset, mode] = process.argv.slice(2)
const items = []
const timer = setTimeout(() => {
  console.log(JSON.stringify({ items, timedOut: true }))
  process.exit(1)
}, 20000)
const res = await stream({ url, offset, live: mode, json: true })
await new Promise((resolve) => {
  res.subscribeJson(async (batch) => {
    for (const item of batch.items) {
      items.push(item)
      if (item && typeof item === "object" && ("end" in item || "error" in item)) resolve()
    }
  })
})
clearTimeout(timer)
res.cancel?.()
console.log(JSON.stringify({ items }))
process.exit(0)
