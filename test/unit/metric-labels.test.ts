import type { Request } from "express";
import { RemoteFetchError } from "../../src/federation/http-client.js";
import { CHAT_MESSAGE_REASONS } from "../../src/federation/inbox/chat-message-rules.js";
import { classifyError, classifyResponse } from "../../src/federation/outgoing/policy.js";
import {
  deliveryReason,
  deliveryReasonLabel,
  inboxReasonLabel,
  methodLabel,
  OTHER,
  routeLabel,
  statusLabel,
  UNMATCHED_ROUTE,
} from "../../src/ops/metric-labels.js";

/** Every metric label comes from a fixed set, whatever a request chooses (src/ops/metric-labels.ts). */

const request = (originalUrl: string, route?: { path: unknown }, baseUrl = "") => ({ originalUrl, route, baseUrl }) as unknown as Request;

describe("method and status", () => {
  it("keeps the methods Parley serves and folds the rest", () => {
    expect(methodLabel("GET")).toBe("GET");
    expect(methodLabel("DELETE")).toBe("DELETE");
    for (const method of ["PROPFIND", "get", "X".repeat(1000)]) expect(methodLabel(method)).toBe(OTHER);
  });

  it("keeps known statuses, counts others by class, folds impossible ones", () => {
    expect(statusLabel(404)).toBe("404");
    expect(statusLabel(418)).toBe("4xx");
    expect(statusLabel(299)).toBe("2xx");
    for (const status of [0, 99, 600, 1e9, Number.NaN]) expect(statusLabel(status)).toBe(OTHER);
  });
});

describe("routeLabel", () => {
  it("is express's pattern under its mount, lower-cased mount, never the raw path", () => {
    expect(routeLabel(request("/api/v1/pleroma/chats/abc/messages?x=1", { path: "/:id/messages" }, "/API/v1/pleroma/chats"))).toBe(
      "/api/v1/pleroma/chats/:id/messages",
    );
  });

  it.each([
    ["/users/alice/inbox", "/users/:name/inbox"],
    ["/USERS/alice/outbox/", "/users/:name/outbox"],
    ["/users/alice", "/users/:name"],
    ["/inbox?x=1", "/inbox"],
    ["/.well-known/webfinger?resource=acct:a@b", "/.well-known/webfinger"],
    ["/objects/0123", "/objects/:id"],
    ["/media/ab/cd.png", "/media/*"],
    ["/admin/queues/api/queues", "/admin/queues/*"],
    [`/.well-known/${"x".repeat(8000)}`, UNMATCHED_ROUTE],
    ["/users/alice/inbox/extra", UNMATCHED_ROUTE],
  ])("%s without an express route → %s", (url, label) => {
    expect(routeLabel(request(url))).toBe(label);
  });

  it("holds at most 400 distinct routes per process and no label over 200 characters", () => {
    expect(routeLabel(request("/x", { path: `/${"a".repeat(250)}` }))).toBe(OTHER);
    const labels = Array.from({ length: 500 }, (_, i) => routeLabel(request("/x", { path: `/generated/${i}` })));
    expect(new Set(labels).size).toBeLessThanOrEqual(401);
    expect(labels.at(-1)).toBe(OTHER);
    // Labels seen before the cap keep being counted under their own name.
    expect(routeLabel(request("/users/alice/inbox"))).toBe("/users/:name/inbox");
  });
});

describe("inbox reasons", () => {
  it("knows every ChatMessage reason, the signature problems and the inbox's own codes", () => {
    for (const reason of [...CHAT_MESSAGE_REASONS, "multiple_key_ids", "digest_not_sha256", "keyFetchError", "rate_limited", "accepted"]) {
      expect(inboxReasonLabel(reason)).toBe(reason);
    }
    for (const reason of [undefined, "", "hello", "__proto__", "toString"]) expect(inboxReasonLabel(reason)).toBe(OTHER);
  });
});

describe("delivery reasons", () => {
  it("labels an outcome by its status class, else its fetch error code, else a known refusal", () => {
    expect(deliveryReason(classifyResponse(503, {}, true))).toBe("5xx");
    expect(deliveryReason(classifyResponse(410, {}, true))).toBe("4xx");
    expect(deliveryReason(classifyError(new RemoteFetchError("timeout", "slow")))).toBe("timeout");
    expect(deliveryReason(classifyError(new RemoteFetchError("private_address", "10.0.0.1")))).toBe("private_address");
    expect(deliveryReason({ kind: "permanent", error: "invalid inbox URL: x", gone: false })).toBe("invalid_url");
    expect(deliveryReason({ kind: "permanent", error: "domain blocked: b.example", gone: false })).toBe("domain_blocked");
    expect(deliveryReason({ kind: "retry", error: "no signing key for alice", hostFailure: false })).toBe("no_signing_key");
    // A plain error (a socket hang-up) is a network failure.
    expect(deliveryReason(classifyError(new Error("socket hang up")))).toBe("network");
    expect(deliveryReason({ kind: "retry", error: "something new", hostFailure: true })).toBe(OTHER);
    expect(deliveryReason({ kind: "retry", error: "constructor: x", hostFailure: true })).toBe(OTHER);
  });

  it("folds anything outside deliveryReason's values", () => {
    expect(deliveryReasonLabel("4xx")).toBe("4xx");
    expect(deliveryReasonLabel("too_many_redirects")).toBe("too_many_redirects");
    expect(deliveryReasonLabel("HTTP 404")).toBe(OTHER);
  });
});
