// @durable-streams/client reading a Durable Stream without the key, on a read token in the
// URL (tests/real/test_durable_tokens_live.py, docs/durable-streams.md): the token is a
// parameter the client reads per request, renewed (HEAD with the key, as a page's backend
// would) once half of its TTL_S has passed. Follows URL in MODE (sse or long-poll) until an
// item {"last": true}, then prints one JSON line: every item, in order, and the tokens used.
import { stream } from "@durable-streams/client"

const [url, key, mode, ttlS] = process.argv.slice(2)
const items = []
let minted = 0
const timer = setTimeout(() => {
  console.log(JSON.stringify({ items, minted, timedOut: true }))
  process.exit(1)
}, 30000)

async function mint() {
  const head = await fetch(url, { method: "HEAD", headers: { Authorization: `Bearer ${key}` } })
  minted += 1
  return head.headers.get("X-Stream-Token")
}

let token = null
let renewAt = 0
async function currentToken() {
  if (Date.now() >= renewAt) {
    token = await mint()
    renewAt = Date.now() + (Number(ttlS) * 1000) / 2
  }
  return token
}

const res = await stream({ url, offset: "-1", live: mode, json: true, params: { token: currentToken } })
await new Promise((resolve) => {
  res.subscribeJson(async (batch) => {
    for (const item of batch.items) {
      items.push(item)
      if (item && item.last) resolve()
    }
  })
})
clearTimeout(timer)
res.cancel?.()
console.log(JSON.stringify({ items, minted }))
process.exit(0)
