// The Durable Streams server conformance suite (@durable-streams/server-conformance-tests,
// pinned in package-lock.json) against the server at DURABLE_BASE_URL, run by
// tests/real/test_durable_conformance.py through vitest: its runConformanceTests entry
// point registers every test with vitest's describe/test (its CLI finds no tests when run
// from another project).
import { runConformanceTests } from "@durable-streams/server-conformance-tests"

const baseUrl = process.env.DURABLE_BASE_URL
if (!baseUrl) throw new Error("set DURABLE_BASE_URL to the server's root URL")

runConformanceTests({
  baseUrl,
  longPollTimeoutMs: Number(process.env.DURABLE_LONG_POLL_MS ?? 2000),
})
