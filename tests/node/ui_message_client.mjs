// The AI SDK's own chat client (ai's AbstractChat, what useChat wraps, with its
// DefaultChatTransport) against a streamer view of format="ui-message"
// (driven by tests/real/test_ui_message_node.py).
//
//   node ui_message_client.mjs <url>
//
// Prints one JSON line per change of the assistant message's text ({"progress": text}), so
// the test sees parts arrive while the server's producer still runs, then the last line:
// {"status", "error", "messages"}: the chat's state once sendMessage has settled.
import { AbstractChat, DefaultChatTransport } from "ai";

class State {
  constructor() {
    this.status = "ready";
    this.error = undefined;
    this.messages = [];
    this.reported = "";
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
    return structuredClone(thing); // as @ai-sdk/react's state does
  }
  report() {
    const last = this.messages[this.messages.length - 1];
    if (last === undefined || last.role !== "assistant") return;
    const text = last.parts.filter((p) => p.type === "text").map((p) => p.text).join("");
    if (text !== this.reported) {
      this.reported = text;
      process.stdout.write(JSON.stringify({ progress: text }) + "\n");
    }
  }
}

class Chat extends AbstractChat {
  constructor(options) {
    super({ ...options, state: new State() });
  }
}

const [url] = process.argv.slice(2);
const chat = new Chat({ transport: new DefaultChatTransport({ api: url }) });
await chat.sendMessage({ text: "What is the weather in Oslo?" });
process.stdout.write(
  JSON.stringify({
    status: chat.status,
    error: chat.error === undefined ? null : String(chat.error.message),
    messages: chat.messages,
  }) + "\n",
);
