import { boundLogLine, boundLogRecord, boundLogValue, LOG_LIMITS, summariseDocument, truncate } from "../../src/shared/log-bounds.js";

/** What one log record may carry (src/shared/log-bounds.ts); through the logger: test/log-amplification.test.ts. */

describe("truncate", () => {
  it("keeps short text and says how much of a long one was left out", () => {
    expect(truncate("short")).toBe("short");
    expect(truncate("x".repeat(LOG_LIMITS.string))).toBe("x".repeat(LOG_LIMITS.string));
    expect(truncate("abcdef", 2)).toBe("ab…[+4 chars]");
  });
});

describe("boundLogValue", () => {
  it("keeps ordinary values as they are", () => {
    const value = { account: "A1b2", count: 3, ok: true, nested: { list: [1, 2] }, none: null };
    expect(boundLogValue(value)).toEqual(value);
    expect(boundLogValue(12n)).toBe("12");
    expect(boundLogValue(new URL("https://a.example/x"))).toBe("https://a.example/x");
    expect(boundLogValue(new Date("2026-12-03T10:00:00Z"))).toBe("2026-12-03T10:00:00.000Z");
    expect(boundLogValue(new Date(Number.NaN))).toBe("Invalid Date");
    expect(boundLogValue(Buffer.alloc(4096))).toBe("[4096 bytes]");
  });

  it("cuts wide objects, long arrays and deep nesting", () => {
    const wide = boundLogValue(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]))) as Record<string, unknown>;
    expect(Object.keys(wide)).toHaveLength(LOG_LIMITS.keys + 1);
    expect(wide["[truncated]"]).toBe(`${100 - LOG_LIMITS.keys} more keys`);
    const list = boundLogValue(Array.from({ length: 50 }, (_, i) => i)) as unknown[];
    expect(list).toEqual([...Array.from({ length: LOG_LIMITS.items }, (_, i) => i), `[+${50 - LOG_LIMITS.items} items]`]);
    expect(boundLogValue({ a: { b: { c: { d: { e: "deep" } } } } })).toEqual({ a: { b: { c: { d: "[object]" } } } });
    expect(boundLogValue({ a: { b: { c: { d: [1, 2, 3] } } } })).toEqual({ a: { b: { c: { d: "[3 items]" } } } });
  });

  it("shares one budget among the strings of a record", () => {
    const many = boundLogValue(Array.from({ length: 10 }, () => "y".repeat(1_000))) as string[];
    expect(many.join("").replace(/[^y]/g, "").length).toBe(LOG_LIMITS.record);
    expect(many.at(-1)).toBe("[truncated]");
  });

  it("logs an ActivityStreams document by what identifies it, never its content", () => {
    const activity = {
      "@context": "https://www.w3.org/ns/activitystreams",
      id: "https://r.example/activities/1",
      type: "Create",
      actor: "https://r.example/users/a",
      object: { id: "https://r.example/objects/1", type: "ChatMessage", content: "secret words" },
      to: ["https://l.example/users/b"],
    };
    const logged = boundLogValue({ activity }) as { activity: Record<string, unknown> };
    expect(logged.activity).toEqual({
      id: "https://r.example/activities/1",
      type: "Create",
      actor: "https://r.example/users/a",
      object: { id: "https://r.example/objects/1", type: "ChatMessage" },
      omittedKeys: 2,
    });
    expect(JSON.stringify(logged)).not.toContain("secret words");
    expect(summariseDocument({ type: "Note", attributedTo: ["https://a", "https://b"] })).toEqual({
      type: "Note",
      attributedTo: "[2 items]",
      omittedKeys: 0,
    });
  });

  it("serialises an error with its type, bounded message and stack frames, and bounded details", () => {
    const error = Object.assign(new TypeError("m".repeat(10_000)), { details: { document: "d".repeat(100_000) } });
    const logged = boundLogValue(error) as Record<string, unknown>;
    expect(logged).toBeInstanceOf(TypeError);
    expect(logged.type).toBe("TypeError");
    expect((logged.message as string).length).toBeLessThan(LOG_LIMITS.string + 30);
    expect(logged.stack).toMatch(/^ {4}at /);
    expect((logged.details as Record<string, string>).document.length).toBeLessThan(LOG_LIMITS.string + 30);
  });
});

describe("boundLogRecord and boundLogLine", () => {
  it("leave pino-http's req and res objects to their serialisers", () => {
    class IncomingRequest {
      url = "/x";
    }
    const req = new IncomingRequest();
    const bounded = boundLogRecord({ req, other: "z".repeat(1_000) });
    expect(bounded.req).toBe(req);
    expect((bounded.other as string).startsWith("z".repeat(LOG_LIMITS.string))).toBe(true);
  });

  it("writes a short line as is, a long one again within the bounds, and an unparsable one as a message", () => {
    const short = `${JSON.stringify({ msg: "hi" })}\n`;
    expect(boundLogLine(short)).toBe(short);
    const long = JSON.stringify({ msg: "m".repeat(20_000), field: "f".repeat(20_000) });
    const rewritten = JSON.parse(boundLogLine(long));
    expect(rewritten.truncated).toBe(true);
    expect(rewritten.msg.length).toBeLessThan(LOG_LIMITS.message + 30);
    expect(rewritten.field.length).toBeLessThan(LOG_LIMITS.string + 30);
    const broken = JSON.parse(boundLogLine(`{"msg": "${"x".repeat(20_000)}`));
    expect(broken).toMatchObject({ truncated: true });
    expect(broken.msg.length).toBeLessThan(LOG_LIMITS.message + 30);
  });
});
