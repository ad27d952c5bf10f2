import { RemoteFetchError } from "../../src/federation/http-client.js";
import { chatMessageObject } from "../../src/federation/outgoing/activities.js";
import { CHAT_DROPPING_SOFTWARE, dropsChatMessage } from "../../src/federation/outgoing/chat-software.js";
import {
  classifyError,
  classifyResponse,
  DEFAULT_DELIVERY_TUNING,
  deliveryTuning,
  MAX_ATTEMPTS,
  parseRetryAfter,
  retryDelay,
} from "../../src/federation/outgoing/policy.js";

/** The pure parts of outgoing delivery: the retry schedule, status classes, peers that take chats, JSON shape. */

const HOUR = 3_600_000;

/** Attempt times of one delivery that always fails, with the worker's give-up rule (age ≥ horizon). */
function schedule(jitter: () => number) {
  const times = [0];
  for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
    const now = times[times.length - 1];
    if (now >= DEFAULT_DELIVERY_TUNING.horizonMs) break;
    times.push(now + retryDelay(attempt, DEFAULT_DELIVERY_TUNING, jitter));
  }
  return times;
}

describe("retry schedule", () => {
  it("backs off exponentially from a minute, no single delay above 8 h", () => {
    const nominal = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((n) => retryDelay(n, DEFAULT_DELIVERY_TUNING, () => 1));
    expect(nominal.slice(0, 9)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256].map((m) => m * 60_000));
    expect(nominal.slice(9)).toEqual([8 * HOUR, 8 * HOUR]);
    for (let n = 1; n < 60; n++) {
      const delay = retryDelay(n, DEFAULT_DELIVERY_TUNING);
      expect(delay).toBeLessThanOrEqual(8 * HOUR);
      expect(delay).toBeGreaterThanOrEqual(Math.min(8 * HOUR, 60_000 * 2 ** (n - 1)) * 0.75);
    }
  });

  it.each([
    ["no jitter", () => 1, 15],
    ["the shortest jitter", () => 0, 17],
  ])("keeps trying for at least 48 hours (%s: %i attempts)", (_name, jitter, attempts) => {
    const times = schedule(jitter);
    expect(times).toHaveLength(attempts);
    expect(times[times.length - 1]).toBeGreaterThanOrEqual(48 * HOUR);
    expect(times[times.length - 2]).toBeLessThan(48 * HOUR);
  });
});

describe("classifyResponse", () => {
  it.each([
    [200, true, "delivered"],
    [202, false, "delivered"],
    [400, true, "permanent"],
    [403, false, "permanent"],
    [422, true, "permanent"],
    [401, true, "retry"],
    [408, true, "retry"],
    [429, true, "retry"],
    [500, true, "retry"],
    [502, false, "retry"],
    [503, true, "retry"],
    [302, true, "permanent"],
    [303, false, "permanent"],
  ])("%i from a %s personal inbox → %s", (status, personal, kind) => {
    expect(classifyResponse(status, {}, personal).kind).toBe(kind);
  });

  it("marks the actor gone only for 404/410 from a personal inbox", () => {
    expect(classifyResponse(410, {}, true)).toMatchObject({ kind: "permanent", gone: true });
    expect(classifyResponse(404, {}, true)).toMatchObject({ kind: "permanent", gone: true });
    expect(classifyResponse(410, {}, false)).toMatchObject({ kind: "permanent", gone: false });
    expect(classifyResponse(403, {}, true)).toMatchObject({ kind: "permanent", gone: false });
  });

  it("honours Retry-After on 429 and 503 only, and counts 5xx against the host but not 429", () => {
    expect(classifyResponse(429, { "retry-after": "2" }, true)).toMatchObject({ retryAfterMs: 2000, hostFailure: false });
    expect(classifyResponse(503, { "retry-after": "120" }, true)).toMatchObject({ retryAfterMs: 120_000, hostFailure: true });
    expect(classifyResponse(500, { "retry-after": "2" }, true)).toMatchObject({ retryAfterMs: undefined, hostFailure: true });
  });

  it("retries network errors and timeouts, refuses bad URLs for good", () => {
    expect(classifyError(new RemoteFetchError("timeout", "slow"))).toMatchObject({ kind: "retry", hostFailure: true });
    expect(classifyError(new RemoteFetchError("network", "ECONNREFUSED"))).toMatchObject({ kind: "retry", hostFailure: true });
    expect(classifyError(new RemoteFetchError("private_address", "10.0.0.1"))).toMatchObject({ kind: "permanent" });
    expect(classifyError(new Error("socket hang up"))).toMatchObject({ kind: "retry" });
  });
});

describe("deliveryTuning", () => {
  it("overrides only the fields given; the defaults keep a slot lease above the request timeout", () => {
    expect(deliveryTuning(undefined)).toEqual(DEFAULT_DELIVERY_TUNING);
    expect(deliveryTuning({ backoffBaseMs: 10 })).toEqual({ ...DEFAULT_DELIVERY_TUNING, backoffBaseMs: 10 });
    expect(DEFAULT_DELIVERY_TUNING.slotLeaseMs).toBeGreaterThan(DEFAULT_DELIVERY_TUNING.requestTimeoutMs);
  });

  it("scales the schedule with shortened tuning (what tests pass), jitter within [0.75, 1]", () => {
    const fast = { backoffBaseMs: 100, maxDelayMs: 1_000 };
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(n, fast, () => 1))).toEqual([100, 200, 400, 800, 1_000]);
    expect(retryDelay(3, fast, () => 0)).toBe(300);
    // Attempt numbers below 1 or far above the cap stay within it.
    expect(retryDelay(0, fast, () => 1)).toBe(100);
    expect(retryDelay(10_000, fast, () => 1)).toBe(1_000);
  });
});

describe("classifying failures for host pauses", () => {
  it("counts 408 and 5xx against the host, not a too-large answer or a 429", () => {
    expect(classifyResponse(408, {}, true)).toMatchObject({ kind: "retry", hostFailure: true });
    expect(classifyResponse(429, {}, true)).toMatchObject({ kind: "retry", hostFailure: false });
    expect(classifyError(new RemoteFetchError("too_large", "body over the limit"))).toMatchObject({ kind: "retry", hostFailure: false });
    expect(classifyError(new RemoteFetchError("too_many_redirects", "5"))).toMatchObject({ kind: "permanent", gone: false });
    expect(classifyError(new RemoteFetchError("invalid_url", "x"))).toMatchObject({ kind: "permanent" });
  });
});

describe("parseRetryAfter", () => {
  it("reads seconds and HTTP dates", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("2", now)).toBe(2000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:01:00 GMT", now)).toBe(60_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe("dropsChatMessage", () => {
  it.each([
    ["mastodon", true],
    ["Mastodon", true],
    ["misskey", true],
    ["sharkey", true],
    ["gotosocial", true],
    ["akkoma", true],
    ["friendica", true],
    ["mastodon 4.3.0", true],
    ["pleroma", false],
    ["lemmy", false],
    ["lemmy 0.19.3", false],
    ["lemmy/1.0.0", false],
    ["mbin", false],
    ["hollo", false],
    ["pixelfed", false],
    ["iceshrimp.net", false],
    ["some-new-server", false],
    [null, false],
  ])("%s → %s", (software, expected) => {
    expect(dropsChatMessage(software)).toBe(expected);
  });

  it("lists only lower-case nodeinfo names, never a server that speaks ChatMessage", () => {
    for (const name of CHAT_DROPPING_SOFTWARE) expect(name).toBe(name.toLowerCase());
    for (const speaks of ["pleroma", "lemmy", "mbin", "bonfire", "parley"]) expect(CHAT_DROPPING_SOFTWARE.has(speaks)).toBe(false);
  });
});

describe("chatMessageObject", () => {
  it("carries one attachment object with Pleroma's url list, and no content when there is none", () => {
    const author = { uri: "https://a.example/users/alice", username: "alice", domain: null };
    const recipient = { uri: "https://b.example/users/bob", username: "bob", domain: "b.example" };
    const message = {
      id: "m1",
      uri: "https://a.example/objects/m1",
      content: null,
      emojis: [],
      publishedAt: new Date("2026-01-01T00:00:00Z"),
      editedAt: null,
    } as unknown as Parameters<typeof chatMessageObject>[0]["message"];
    const attachment = { path: "ab/cd.png", contentType: "image/png", description: "a cat" } as Parameters<
      typeof chatMessageObject
    >[0]["attachment"];
    const object = chatMessageObject({ message, author, recipient, attachment }, "https://a.example");
    expect(object).not.toHaveProperty("content");
    expect(object.attachment).toEqual({
      type: "Document",
      mediaType: "image/png",
      name: "a cat",
      url: [{ type: "Link", mediaType: "image/png", href: "https://a.example/media/ab/cd.png" }],
    });
    expect(object.tag).toEqual([{ type: "Mention", href: recipient.uri, name: "@bob@b.example" }]);
  });
});
