// The official openai npm package against streamer's Responses API (/v1/responses); driven
// by tests/real/test_openai_node.py, which starts the server. One JSON line on stdout.
//
//   node responses_client.mjs stream <baseURL> <model>     every event's type and number
//   node responses_client.mjs resume <baseURL> <model> <N> a background stream read up to
//                                                          sequence number N, then the rest
//                                                          with retrieve(id, {stream: true,
//                                                          starting_after: N})
//   node responses_client.mjs events <baseURL> <body JSON> the request as given, streamed:
//                                                          every event, whole
import OpenAI from "openai";

const [mode, baseURL, model, after] = process.argv.slice(2);
const client = new OpenAI({ apiKey: process.env.OPENAI_API_KEY ?? "unused", baseURL, maxRetries: 0, timeout: 30_000 });
const input = "streaming answers token by token through the gateway";

function out(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}

function summary(events) {
  const last = events[events.length - 1];
  return {
    types: events.map((e) => e.type),
    numbers: events.map((e) => e.sequence_number),
    text: events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join(""),
    final: last?.response ?? null,
  };
}

async function stream() {
  const events = [];
  for await (const event of await client.responses.create({ model, input, stream: true })) events.push(event);
  out(summary(events));
}

async function resume() {
  const n = Number(after);
  const events = [];
  const first = await client.responses.create({ model, input, stream: true, background: true });
  for await (const event of first) {
    events.push(event);
    if (event.sequence_number === n) break; // breaking out of the loop aborts the request
  }
  const id = events[0].response.id;
  const rest = await client.responses.retrieve(id, { stream: true, starting_after: n });
  for await (const event of rest) events.push(event);
  const whole = await client.responses.retrieve(id);
  out({ ...summary(events), id, status: whole.status, outputText: whole.output_text });
}

async function events() {
  const got = [];
  for await (const event of await client.responses.create(JSON.parse(model))) got.push(event);
  out({ events: got });
}

await { stream, resume, events }[mode]();
