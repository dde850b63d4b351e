// @durable-streams/client across two streamer instances on one Redis
// (tests/real/test_durable_clients.py): an IdempotentProducer writes JSON messages through
// instance A, one at a time; a live reader (SSE or long-poll) follows the stream through
// instance B. Prints one JSON line: the values the reader got, in order, and each one's
// delay from its append (the producer's POST through A included) to its arrival at the
// reader through B, in ms.
import { DurableStream, IdempotentProducer, stream } from "@durable-streams/client"

const [urlA, urlB, mode, countArg] = process.argv.slice(2)
const count = Number(countArg)
const writer = await DurableStream.create({ url: urlA, contentType: "application/json" })

const got = []
const delays = []
const sentAt = new Map()
let done
const finished = new Promise((resolve) => (done = resolve))
const res = await stream({ url: urlB, offset: "-1", live: mode, json: true })
res.subscribeJson(async (batch) => {
  const now = performance.now()
  for (const item of batch.items) {
    got.push(item.i)
    delays.push(now - sentAt.get(item.i))
  }
  if (got.length >= count) done()
})

const producer = new IdempotentProducer(writer, "writer-a", {
  autoClaim: true,
  lingerMs: 0,
  onError: (err) => {
    console.error("producer error", err)
    process.exit(2)
  },
})
await new Promise((r) => setTimeout(r, 300)) // the reader is waiting at the tail
for (let i = 0; i < count; i++) {
  sentAt.set(i, performance.now())
  producer.append(JSON.stringify({ i }))
  await producer.flush()
  await new Promise((r) => setTimeout(r, 20))
}
const timer = setTimeout(() => {
  console.log(JSON.stringify({ got, delays, timedOut: true }))
  process.exit(1)
}, 15000)
await finished
clearTimeout(timer)
await producer.close()
res.cancel?.()
console.log(JSON.stringify({ got, delays }))
process.exit(0)
