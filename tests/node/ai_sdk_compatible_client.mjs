// The AI SDK's @ai-sdk/openai-compatible provider (pinned by the lockfile) with streamText
// against streamer's /v1 API; driven by tests/real/test_ai_sdk_compatible.py. One JSON line on
// stdout: every part of the full stream, in order.
//
//   [MAX_TOKENS=N] node ai_sdk_compatible_client.mjs <baseURL> <model> <prompt> [tools]
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { jsonSchema, streamText, tool } from "ai";

const [baseURL, model, prompt, withTools] = process.argv.slice(2);
const provider = createOpenAICompatible({
  name: "streamer", baseURL, apiKey: process.env.OPENAI_API_KEY ?? "unused", includeUsage: true,
});
const tools = withTools ? {
  weather: tool({
    description: "the weather in a city",
    inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } } }),
  }),
} : undefined;
const parts = [];
const result = streamText({
  model: provider(model), prompt, tools, maxRetries: 0, onError: () => {},
  maxOutputTokens: process.env.MAX_TOKENS ? Number(process.env.MAX_TOKENS) : undefined,
});
try {
  for await (const part of result.fullStream) {
    if (part.type === "error") parts.push({ type: "error", message: String(part.error?.message ?? part.error) });
    else parts.push(part);
  }
} catch (err) {
  // A body cut after an in-band error (a broken answer never looks complete) ends the
  // iteration with fetch's own error.
  parts.push({ type: "thrown", message: String(err.message) });
}
process.stdout.write(JSON.stringify({ parts }) + "\n");
