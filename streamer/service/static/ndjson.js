// Incremental ndjson for fetch streams: one TextDecoder per body, lines split only on
// \r\n, \r and \n (never on U+2028/U+0085, which may sit inside a JSON string). A \r\n
// split across two chunks reads as a line break and an empty line, and empty lines are
// skipped, so no \r needs holding back.

export class NdjsonParser {
  constructor() {
    this.buffer = "";
  }

  // Text in, complete records out. Blank lines are skipped.
  push(text) {
    const buf = this.buffer + text;
    const records = [];
    let start = 0;
    // The held-back part has no line break in it: scan only the new text (a long line that
    // comes in many chunks stays linear).
    for (let i = this.buffer.length; i < buf.length; i++) {
      const c = buf[i];
      if (c !== "\n" && c !== "\r") continue;
      const line = buf.slice(start, i);
      if (c === "\r" && buf[i + 1] === "\n") i++;
      start = i + 1;
      if (line.trim()) records.push(JSON.parse(line));
    }
    this.buffer = buf.slice(start);
    return records;
  }

  // At the end of the body: a last line without its newline is still a record.
  flush() {
    const rest = this.buffer;
    this.buffer = "";
    return rest.trim() ? [JSON.parse(rest)] : [];
  }
}

// Reads an ndjson response body to its end, calling onRecord for each record as it
// arrives. Resolves with how the stream ended:
//   "complete"   an end record arrived (the only way a stream counts as finished),
//   "error"      an in-band error record arrived (its error is passed to onRecord); the
//                body is cancelled there, which closes the connection,
//   "incomplete" the body ended or broke without end or error.
// Rejects with the AbortError when the caller aborts.
export async function readNdjson(response, onRecord) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8"); // one decoder: split characters survive
  const parser = new NdjsonParser();
  let outcome = "incomplete";
  const take = (records) => {
    for (const record of records) {
      if (record.event === "end") outcome = "complete";
      else if (record.event === "error") outcome = "error";
      onRecord(record);
    }
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      take(parser.push(decoder.decode(value, { stream: true })));
      if (outcome === "error") {
        // The last record: close now. The server cuts a failed stream only once its reader
        // closed (or after a grace period): a cut that came first could make the browser
        // drop the record before this loop read it.
        reader.cancel().catch(() => {});
        return outcome;
      }
    }
    take(parser.push(decoder.decode()));
    take(parser.flush());
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    // A body cut without the chunked terminator rejects read() with a network error:
    // after an error record that is the expected ending, otherwise the stream is incomplete.
    return outcome === "complete" ? "incomplete" : outcome;
  }
  return outcome;
}
