// vitest for tests/node/durable only: no watch, the suite's own per-test timeouts, a JSON
// report the pytest side counts.
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["durable/*.test.mjs"],
    root: new URL("..", import.meta.url).pathname,
    testTimeout: 30000,
    hookTimeout: 30000,
    watch: false,
  },
})
