import { DEFAULT_DELIVERY_TUNING } from "../../src/federation/outgoing/policy.js";
import { startRemoteServer } from "../../test/helpers/remote.js";
import { call, must } from "./client.js";
import type { Side } from "./types.js";

/**
 * A receiver that goes down for good (past the retry horizon): a remote server C (a loopback
 * ActivityPub actor, test/helpers/remote.ts) that A's first account looks up and opens a chat
 * with; then C stops listening and A's account writes to it. A retries all along; at the end the
 * rows are dated back past the retry horizon (48 h: the run cannot wait that long), so the next
 * failed attempt gives each up. Each must end `failed`, the sender must see
 * `parley.delivery: "failed"` on each message, and nothing else may be lost (the main checks,
 * which leave C's deliveries out).
 */
export interface DownReceiver {
  /** C's host (`127.0.0.1:port`): its deliveries are expected to fail. */
  host: string;
  /** Writes `count` messages to C (C is down by then); resolves once the API accepted them. */
  send(count: number, runId: string): Promise<void>;
  /** Dates C's pending deliveries back past the horizon (as if C had been down 48 h); returns how many. */
  pastHorizon(): Promise<number>;
  /** How many of C's messages are still pending delivery. */
  pending(): Promise<number>;
  check(): Promise<DownReport>;
}

export interface DownReport {
  sent: number;
  /** Deliveries rows to C by status. */
  deliveries: Record<string, number>;
  /** Messages whose `parley.delivery` the sender sees as "failed". */
  senderSeesFailed: number;
  /** Delivery attempts made to C, all rows together (all refused at connect). */
  attempts: number;
  /** Seconds from the dating back to the last of C's deliveries given up. */
  failedAfterS: number | null;
  ok: boolean;
}

/** Production's retry horizon (DEFAULT_DELIVERY_TUNING.horizonMs), in hours. */
const HORIZON_HOURS = DEFAULT_DELIVERY_TUNING.horizonMs / 3_600_000;

export async function startDownReceiver(A: Side): Promise<DownReceiver> {
  const remote = await startRemoteServer({ webfinger: true, nodeinfo: { software: "pleroma", version: "2.7.0" } });
  remote.actor("c0", { capabilities: { acceptsChatMessages: true } });
  const host = new URL(remote.url).host;
  const me = A.accounts[0];
  const found = await must(A.api, me.token, "GET", `/api/v1/accounts/lookup?acct=${encodeURIComponent(`c0@${host}`)}`);
  const chat = await must(A.api, me.token, "POST", `/api/v1/pleroma/chats/by-account-id/${found.id}`);
  // Down from here on: every delivery attempt is refused at connect.
  await remote.close();
  const sentAt = new Map<string, number>();
  let datedAt: number | undefined;

  return {
    host,
    async send(count, runId) {
      await Promise.all(
        Array.from({ length: count }, async (_, k) => {
          const tag = `h${runId}-${k}-x`;
          for (let tries = 0; tries < 20; tries++) {
            const posted = await call(
              A.api,
              me.token,
              "POST",
              `/api/v1/pleroma/chats/${chat.id}/messages`,
              { content: `down ${tag}` },
              { "idempotency-key": tag },
            );
            if (posted.status === 200) {
              sentAt.set(posted.body.id, Date.now());
              return;
            }
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
          throw new Error(`message ${tag} to the down receiver was not accepted`);
        }),
      );
    },
    async pastHorizon() {
      const rows = await A.p.sql`UPDATE deliveries SET created_at = created_at - make_interval(hours => ${HORIZON_HOURS}, mins => 1)
        WHERE status = 'pending' AND starts_with(inbox_url, ${`http://${host}/`}) RETURNING id`;
      datedAt = Date.now();
      return rows.length;
    },
    async pending() {
      const [row] = await A.p.sql<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM deliveries WHERE status = 'pending' AND starts_with(inbox_url, ${`http://${host}/`})`;
      return row.n;
    },
    async check() {
      const rows = await A.p.sql<{ status: string; n: number; attempts: number; last: number | null }[]>`
        SELECT status, count(*)::int AS n, sum(attempts)::int AS attempts, (max(extract(epoch FROM updated_at)) * 1000)::float8 AS last
        FROM deliveries WHERE starts_with(inbox_url, ${`http://${host}/`}) GROUP BY status`;
      const deliveries = Object.fromEntries(rows.map((r) => [r.status, r.n]));
      const page = await call(A.api, me.token, "GET", `/api/v1/pleroma/chats/${chat.id}/messages?limit=40`);
      const mine = (page.status === 200 ? (page.body as { id: string; parley?: { delivery?: string } }[]) : []).filter((m) =>
        sentAt.has(m.id),
      );
      const senderSeesFailed = mine.filter((m) => m.parley?.delivery === "failed").length;
      const last = rows.find((r) => r.status === "failed")?.last ?? null;
      return {
        sent: sentAt.size,
        deliveries,
        senderSeesFailed,
        attempts: rows.reduce((sum, r) => sum + r.attempts, 0),
        failedAfterS: last !== null && datedAt !== undefined ? Math.round((last - datedAt) / 100) / 10 : null,
        ok:
          sentAt.size > 0 &&
          senderSeesFailed === sentAt.size &&
          (deliveries.failed ?? 0) === sentAt.size &&
          Object.keys(deliveries).length === 1,
      };
    },
  };
}
