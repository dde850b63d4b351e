// The official openai npm package against streamer's /v1 API; driven by
// tests/real/test_openai_node.py, which starts the server. One JSON line of results on stdout.
//
//   node openai_client.mjs stream <baseURL> <model> [usage|resumable]
//                                                              the text, chunks and usage
//   node openai_client.mjs error  <baseURL> <model>           a stream that must reject
//   node openai_client.mjs abort  <baseURL> <model>           3 chunks, print "ready", abort
//                                                              (AbortController) on a stdin line
//   node openai_client.mjs chunks <baseURL> <params JSON>     every chunk object, as the SDK
//                                                              gives them (tests/real/test_openai_relay_live.py)
import OpenAI from "openai";
import { createInterface } from "node:readline";

const [mode, baseURL, model, extra] = process.argv.slice(2);
const client = new OpenAI({ apiKey: process.env.OPENAI_API_KEY ?? "unused", baseURL, maxRetries: 0, timeout: 30_000 });
const messages = [{ role: "user", content: "streaming answers token by token through the gateway" }];

function out(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}

async function stream() {
  const params = { model, messages, stream: true };
  if (extra === "usage") params.stream_options = { include_usage: true };
  const headers = extra === "resumable" ? { "X-Streamer-Resumable": "1" } : {};
  const chunks = await client.chat.completions.create(params, { headers });
  let text = "", count = 0, usage = null, finish = null, usageNulls = 0;
  for await (const chunk of chunks) {
    count += 1;
    if (chunk.usage === null) usageNulls += 1;
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content ?? "";
      finish = chunk.choices[0].finish_reason ?? finish;
    }
  }
  out({ text, count, usage, finish, usageNulls });
}

async function error() {
  let text = "";
  try {
    const chunks = await client.chat.completions.create({ model, messages, stream: true });
    for await (const chunk of chunks) text += chunk.choices[0]?.delta.content ?? "";
    out({ rejected: false, text });
  } catch (err) {
    out({ rejected: true, name: err.constructor.name, isAPIError: err instanceof OpenAI.APIError,
          message: String(err.message), text });
  }
}

async function abort() {
  const controller = new AbortController();
  const lines = createInterface({ input: process.stdin });
  const go = new Promise((resolve) => lines.once("line", resolve));
  const chunks = await client.chat.completions.create(
    { model, messages, stream: true }, { signal: controller.signal });
  let n = 0;
  try {
    for await (const chunk of chunks) {
      n += 1;
      if (n === 3) {
        out({ ready: true });
        await go;
        controller.abort();
      }
    }
    out({ aborted: false, n });  // openai-node ends the iteration quietly on an abort
  } catch (err) {
    out({ aborted: true, name: err.constructor.name, n });
  } finally {
    lines.close();
  }
}

async function chunks() {
  const params = { ...JSON.parse(model), stream: true };
  const got = [];
  for await (const chunk of await client.chat.completions.create(params)) got.push(chunk);
  out({ chunks: got });
}

await { stream, error, abort, chunks }[mode]();
