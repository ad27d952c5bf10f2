import { jest } from "@jest/globals";
import { HostBusy, HostShare, MAX_COOLDOWN_MS } from "../../src/federation/inbox/host-share.js";

/** The per-process share of one remote host in the inbound pool (see host-share.ts). */

const share = () => new HostShare({ maxPerHost: 2, fetchTimeoutMs: 1_000, random: () => 0.5 });

function busy(action: () => unknown): HostBusy {
  try {
    action();
  } catch (error) {
    if (error instanceof HostBusy) return error;
    throw error;
  }
  throw new Error("not refused");
}

afterEach(() => jest.useRealTimers());

it("gives a host at most maxPerHost places, other hosts theirs, and a freed place again", () => {
  const s = share();
  const first = s.acquire("slow.example");
  s.acquire("slow.example");
  const refused = busy(() => s.acquire("slow.example"));
  expect(refused).toMatchObject({ host: "slow.example", why: "share full" });
  // Back within a fetch timeout, never at once.
  expect(refused.retryAt - Date.now()).toBeGreaterThanOrEqual(500);
  expect(refused.retryAt - Date.now()).toBeLessThanOrEqual(1_000);
  expect(() => s.acquire("other.example")).not.toThrow();
  first();
  first();
  expect(s.inUse("slow.example")).toBe(1);
  expect(() => s.acquire("slow.example")).not.toThrow();
});

it("cools a host down after a timeout, doubling while timeouts follow, forgiving it once it answers", () => {
  jest.useFakeTimers({ now: 1_000_000 });
  const s = share();
  const started = Date.now();
  s.timedOut("slow.example", started);
  // Fetches under way before the cooldown began do not lengthen it.
  s.timedOut("slow.example", started);
  expect(busy(() => s.acquire("slow.example"))).toMatchObject({ why: "cooling down", retryAt: 1_000_000 + 1_000 + 500 });
  expect(() => s.acquire("other.example")).not.toThrow();

  jest.advanceTimersByTime(1_001);
  s.acquire("slow.example")();
  s.timedOut("slow.example", Date.now());
  expect(busy(() => s.acquire("slow.example")).retryAt).toBe(Date.now() + 2_000 + 500);

  jest.advanceTimersByTime(2_001);
  s.answered("slow.example");
  s.timedOut("slow.example", Date.now());
  expect(busy(() => s.acquire("slow.example")).retryAt).toBe(Date.now() + 1_000 + 500);
});

it("never cools a host down longer than MAX_COOLDOWN_MS", () => {
  jest.useFakeTimers({ now: 1_000_000 });
  const s = share();
  for (let i = 0; i < 20; i++) {
    s.timedOut("slow.example", Date.now());
    jest.advanceTimersByTime(Math.min(1_000 * 2 ** i, MAX_COOLDOWN_MS) + 1);
  }
  s.timedOut("slow.example", Date.now());
  expect(busy(() => s.acquire("slow.example")).retryAt).toBe(Date.now() + MAX_COOLDOWN_MS + 500);
});
