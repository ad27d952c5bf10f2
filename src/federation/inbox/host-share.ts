/**
 * The share of one inbound worker process that the work of one remote host may take: at most
 * `maxPerHost` of its jobs doing network work (author resolution) at once, and none while the
 * host is cooling down after a fetch of it timed out. A job refused here is put back in the queue
 * for a moment (HostBusy) instead of waiting in a slot, so a host that hangs holds at most
 * `maxPerHost` of the process's `concurrency` slots, for at most one fetch timeout each.
 *
 * Per process, in memory: each process's pool is what a slow host could fill, and the bound is a
 * fraction of that pool whatever the number of processes. No round trip is added to the batched
 * path of cached authors, which never comes here.
 */

/** A job whose host cannot take more work now: to be tried again at `retryAt` (ms since the epoch). */
export class HostBusy extends Error {
  constructor(
    readonly host: string,
    readonly retryAt: number,
    readonly why: "share full" | "cooling down",
  ) {
    super(`${host}: ${why}; again in ${Math.max(0, Math.round(retryAt - Date.now()))} ms`);
    this.name = "HostBusy";
  }
}

/** The longest a host cools down after timeouts in a row. */
export const MAX_COOLDOWN_MS = 5 * 60_000;
/** Hosts whose state a process keeps (cooling ones first); beyond, the oldest are forgotten. */
const MAX_HOSTS = 10_000;
/** The shortest wait of a job put back because its host's share was full. */
const MIN_WAIT_MS = 500;

interface Cooling {
  until: number;
  /** Timeouts in a row (each one started after the previous cooldown): the cooldown doubles. */
  streak: number;
}

export class HostShare {
  private readonly busy = new Map<string, number>();
  private readonly cooling = new Map<string, Cooling>();

  constructor(
    private readonly options: {
      maxPerHost: number;
      /** A fetch's bound: the first cooldown, and the longest a full share's job waits. */
      fetchTimeoutMs: number;
      random?: () => number;
    },
  ) {}

  /**
   * A lease on one of `host`'s places (call it once the network work is over), or HostBusy with
   * the time to try again: a jittered moment within one fetch timeout when the share is full,
   * just after the cooldown (spread over up to a fetch timeout) when the host is cooling down.
   */
  acquire(host: string): () => void {
    const random = this.options.random ?? Math.random;
    const now = Date.now();
    const cooling = this.cooling.get(host);
    if (cooling && cooling.until > now) {
      throw new HostBusy(host, cooling.until + random() * this.options.fetchTimeoutMs, "cooling down");
    }
    const taken = this.busy.get(host) ?? 0;
    if (taken >= this.options.maxPerHost) {
      const span = Math.max(0, this.options.fetchTimeoutMs - MIN_WAIT_MS);
      throw new HostBusy(host, now + MIN_WAIT_MS + random() * span, "share full");
    }
    this.busy.set(host, taken + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.busy.get(host) ?? 1) - 1;
      if (left > 0) this.busy.set(host, left);
      else this.busy.delete(host);
    };
  }

  /**
   * A fetch of `host` timed out: nobody fetches from it for a while — one fetch timeout, doubled
   * for each timeout in a row, at most MAX_COOLDOWN_MS. Timeouts of fetches that were already
   * under way when it started cooling do not lengthen it.
   */
  timedOut(host: string, startedAt: number): void {
    const now = Date.now();
    const previous = this.cooling.get(host);
    if (previous && (previous.until > now || startedAt < previous.until)) return;
    // A streak long past (no fetch of the host since) starts again.
    const streak = previous && now - previous.until < MAX_COOLDOWN_MS ? previous.streak + 1 : 1;
    const cooldown = Math.min(this.options.fetchTimeoutMs * 2 ** (streak - 1), MAX_COOLDOWN_MS);
    this.cooling.delete(host);
    this.cooling.set(host, { until: now + cooldown, streak });
    this.forgetOld(now);
  }

  /** A fetch of `host` went through: its timeouts are forgiven. */
  answered(host: string): void {
    this.cooling.delete(host);
  }

  /** Jobs of `host` doing network work now (for tests and logs). */
  inUse(host: string): number {
    return this.busy.get(host) ?? 0;
  }

  private forgetOld(now: number): void {
    if (this.cooling.size <= MAX_HOSTS) return;
    // A streak is only remembered while it may still matter: a long-past cooldown is dropped first.
    for (const [host, state] of this.cooling) {
      if (this.cooling.size <= MAX_HOSTS) return;
      if (state.until + MAX_COOLDOWN_MS < now) this.cooling.delete(host);
    }
    for (const host of this.cooling.keys()) {
      if (this.cooling.size <= MAX_HOSTS) return;
      this.cooling.delete(host);
    }
  }
}
