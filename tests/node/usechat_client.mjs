// useChat's resume and stop (ai's AbstractChat, what useChat wraps, with its
// DefaultChatTransport) against streamer.llm.chat_streams under gunicorn
// (driven by tests/real/test_ui_message_node.py).
//
//   node usechat_client.mjs <api> <chatId> <drop | stop | abort>
//
// drop:  the POST's body fails with a network error after the first text ("Hel"), as a
//        dropped connection does; then chat.resumeStream() (GET <api>/<chatId>/stream).
// stop:  after "Hel", DELETE <api>/<chatId>/stream; then chat.resumeStream().
// abort: after "Hel", chat.stop() (the fetch is aborted); prints {"aborted_at"}, in s.
// Prints {"progress": text} lines, {"dropped": true}, and one {"phase", "status", "error",
// "messages"} line each time a request has settled.
import { AbstractChat, DefaultChatTransport } from "ai";

const out = (thing) => process.stdout.write(JSON.stringify(thing) + "\n");

class State {
  constructor(onText) {
    this.status = "ready";
    this.error = undefined;
    this.messages = [];
    this.reported = "";
    this.onText = onText;
  }
  pushMessage(message) {
    this.messages = this.messages.concat(message);
    this.report();
  }
  popMessage() {
    this.messages = this.messages.slice(0, -1);
  }
  replaceMessage(index, message) {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)];
    this.report();
  }
  snapshot(thing) {
    return structuredClone(thing);
  }
  report() {
    const last = this.messages[this.messages.length - 1];
    if (last === undefined || last.role !== "assistant") return;
    const text = last.parts.filter((p) => p.type === "text").map((p) => p.text).join("");
    if (text !== this.reported) {
      this.reported = text;
      out({ progress: text });
      this.onText(text);
    }
  }
}

class Chat extends AbstractChat {
  constructor({ onText, ...options }) {
    super({ ...options, state: new State(onText) });
  }
}

const [api, chatId, mode] = process.argv.slice(2);
let cutAfterFirstText = mode === "drop";
let sawFirstText;
const firstText = new Promise((resolve) => (sawFirstText = resolve));

// The POST's body, cut with a network error (what undici raises for a dropped connection)
// once the first text delta has reached the chat's message.
async function dropping(url, init) {
  const response = await fetch(url, init);
  if (init.method !== "POST" || !cutAfterFirstText) return response;
  cutAfterFirstText = false;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  let cut = false;
  const body = new ReadableStream({
    async pull(controller) {
      if (cut) {
        await firstText;
        await reader.cancel();
        out({ dropped: true });
        controller.error(new TypeError("fetch failed: network error"));
        return;
      }
      const { value, done } = await reader.read();
      if (done) return controller.close();
      controller.enqueue(value);
      seen += decoder.decode(value, { stream: true });
      cut = seen.includes('"delta":"Hel"');
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
}

let acted = false;
const chat = new Chat({
  id: chatId,
  transport: new DefaultChatTransport({ api, fetch: dropping }),
  onText: (text) => {
    if (acted || text !== "Hel") return;
    acted = true;
    sawFirstText();
    if (mode === "stop") {
      fetch(`${api}/${chatId}/stream`, { method: "DELETE" }).then((r) => out({ stopped: r.status }));
    } else if (mode === "abort") {
      out({ aborted_at: Date.now() / 1000 });
      chat.stop();
    }
  },
});

const settled = (phase) =>
  out({
    phase,
    status: chat.status,
    error: chat.error === undefined ? null : String(chat.error.message),
    messages: chat.messages,
  });

await chat.sendMessage({ text: "What is the weather in Oslo?" });
settled("sent");
if (mode === "drop" || mode === "stop") {
  await chat.resumeStream();
  settled("resumed");
}
