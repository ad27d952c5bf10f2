import { Writable } from "node:stream";
import { LOG_LIMITS } from "../src/shared/log-bounds.js";
import { createLogger } from "../src/shared/logger.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Issue 13 item 5: a request body never reaches the logs beyond a few hundred bytes, at any level.
 * Unsigned 256 KB inbox bodies of several shapes (a well-formed Create, an unparsable id, an
 * unloadable `@context` whose JSON-LD error quotes it, no actor, no `@context`) each add less than
 * 8 KB of log, no line carries a run of the body longer than a message, and the lines still say
 * which activity it was.
 */

const BODY_BYTES = 256 * 1024;
const PAD = "Q".repeat(BODY_BYTES - 500);
/** The longest run of the body a line may carry: one message. */
const LONGEST_RUN = "Q".repeat(LOG_LIMITS.message + 1);

const base = {
  "@context": "https://www.w3.org/ns/activitystreams",
  id: "http://127.0.0.1:9/activities/amplify-1",
  type: "Create",
  actor: "http://127.0.0.1:9/users/amplifier",
};
const bodies: Record<string, unknown> = {
  "a well-formed Create": { ...base, object: { id: "http://127.0.0.1:9/notes/1", type: "Note", content: PAD, attributedTo: base.actor } },
  "an unparsable id": { ...base, id: `not a uri ${PAD}`, object: { type: "Note", content: "x" } },
  "an unparsable date": { ...base, published: `never ${PAD}`, object: { type: "Note", content: "x" } },
  "an unloadable @context": { ...base, "@context": `http://127.0.0.1:9/context/${PAD}`, object: { type: "Note", content: "x" } },
  "no actor": { "@context": base["@context"], id: base.id, type: "Create", object: { type: "Note", content: PAD } },
  "no @context, many fields": manyFields(),
};

/** A JSON object of short fields, just under INBOX_MAX_BYTES' default (256 KiB). */
function manyFields(): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0, size = 2; size < BODY_BYTES - 600; i++) {
    fields[`field${i}`] = PAD.slice(0, 120);
    size += `"field${i}":"${fields[`field${i}`]}",`.length;
  }
  return fields;
}

/** What one request wrote: its own lines (tagged with its request id), the sizes of any other line, body runs seen. */
interface Recording {
  id: string;
  lines: string[];
  otherLengths: number[];
  leaks: number;
}

describe.each(["debug", "info"])("LOG_LEVEL=%s", (level) => {
  // Only lines written while a request is recorded are looked at (and only its own are kept):
  // background work at debug level must neither fill the memory nor count against a request.
  let recording: Recording | undefined;
  let parley: TestParley;

  beforeAll(async () => {
    const write = (line: string) => {
      if (!recording) return;
      if (line.includes(recording.id)) recording.lines.push(line);
      else recording.otherLengths.push(line.length);
      if (line.includes(LONGEST_RUN)) recording.leaks++;
    };
    parley = await startTestParley({ queue: "postgres", env: { LOG_LEVEL: level }, logStream: { write } });
    await createAccount(parley, "amplified");
  });
  afterAll(() => parley?.close());

  /**
   * Posts one unsigned body with its own X-Request-Id (which pino-http and Fedify both put in their
   * lines); what was logged until its access line (pino-http's) is out.
   */
  async function post(path: string, body: string): Promise<{ status: number; added: string[]; otherLengths: number[]; leaks: number }> {
    expect(Buffer.byteLength(body)).toBeGreaterThan(BODY_BYTES - 1024);
    const requestId = `amplify-${Math.random().toString(36).slice(2)}`;
    const current: Recording = { id: requestId, lines: [], otherLengths: [], leaks: 0 };
    recording = current;
    try {
      const response = await fetch(`${parley.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/activity+json", "x-request-id": requestId },
        body,
      });
      await response.text();
      const deadline = Date.now() + 5_000;
      while (!current.lines.some((line) => line.includes(`"reqId":"${requestId}"`) && line.includes('"res":'))) {
        if (Date.now() > deadline) throw new Error(`no access line for ${requestId}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { status: response.status, added: current.lines, otherLengths: current.otherLengths, leaks: current.leaks };
    } finally {
      recording = undefined;
    }
  }

  it.each(Object.keys(bodies))("a 256 KB unsigned body with %s adds < 8 KB of log, no long run of it", async (name) => {
    for (const path of ["/users/amplified/inbox", "/inbox"]) {
      const { status, added, otherLengths, leaks } = await post(path, JSON.stringify(bodies[name]));
      expect([400, 401]).toContain(status);
      // Fedify's lines and ours (the access line, the bridge's warning) all name the request.
      expect(added.length).toBeGreaterThanOrEqual(2);
      const bytes = added.reduce((total, line) => total + Buffer.byteLength(line), 0);
      expect(bytes).toBeLessThan(8 * 1024);
      expect(leaks).toBe(0);
      for (const length of otherLengths) expect(length).toBeLessThanOrEqual(LOG_LIMITS.line);
      for (const line of added) {
        expect(line.length).toBeLessThanOrEqual(LOG_LIMITS.line);
        expect(line).not.toContain(LONGEST_RUN);
        expect(() => JSON.parse(line)).not.toThrow();
      }
    }
  });

  it("keeps what identifies the activity: its id, type and actor in Fedify's error line", async () => {
    const { added } = await post("/users/amplified/inbox", JSON.stringify(bodies["an unparsable date"]));
    const parsed = added.map((line) => JSON.parse(line) as Record<string, any>);
    const failure = parsed.find((entry) => entry.component === "fedify" && entry.activity && entry.level >= 50);
    expect(failure?.activity).toMatchObject({ id: base.id, type: "Create", actor: base.actor, object: { type: "Note" } });
    expect(failure?.msg).toMatch(/^Failed to parse activity/);
    expect(failure?.error?.type).toEqual(expect.any(String));
  });
});

describe("the logger's bounds on any record", () => {
  function capture() {
    const written: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written.push(chunk.toString());
        done();
      },
    });
    return { logger: createLogger("debug", stream), written };
  }

  it("cut long strings, wide objects, long arrays, error messages and messages; keep redaction", () => {
    const { logger, written } = capture();
    const huge = "Z".repeat(1_000_000);
    const error = Object.assign(new Error(huge), { details: { document: huge, list: Array.from({ length: 5_000 }, () => huge) } });
    logger.error(
      {
        headers: { authorization: "Bearer secret-token-value", "x-big": huge },
        err: error,
        wide: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])),
        deep: { a: { b: { c: { d: { e: { f: huge } } } } } },
      },
      huge,
    );
    logger.warn(new Error(huge));
    expect(written).toHaveLength(2);
    for (const line of written) {
      expect(line.length).toBeLessThan(6 * 1024);
      expect(line).not.toContain("Z".repeat(LOG_LIMITS.message + 1));
    }
    const [first, second] = written.map((line) => JSON.parse(line) as Record<string, any>);
    expect(first.headers.authorization).toBe("[redacted]");
    expect(written.join("")).not.toContain("secret-token-value");
    expect(first.err.type).toBe("Error");
    expect(first.err.stack).toMatch(/^ {4}at /);
    expect(Object.keys(first.wide).length).toBeLessThanOrEqual(LOG_LIMITS.keys + 1);
    expect(first.msg.length).toBeLessThan(LOG_LIMITS.message + 40);
    expect(second.msg.length).toBeLessThan(LOG_LIMITS.message + 40);
  });

  it("leave ordinary records as they were", () => {
    const { logger, written } = capture();
    logger.info({ account: "A1b2", count: 3, nested: { ok: true, list: [1, 2] } }, "something happened");
    expect(JSON.parse(written[0])).toMatchObject({
      account: "A1b2",
      count: 3,
      nested: { ok: true, list: [1, 2] },
      msg: "something happened",
    });
  });
});
