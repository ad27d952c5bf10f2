import { startRemoteServer } from "../../test/helpers/remote.js";
import { call, must } from "./client.js";
import type { Side } from "./types.js";

/**
 * A receiver that goes down for good (past the retry horizon): a remote server C (a loopback
 * ActivityPub actor, test/helpers/remote.ts) that A's first account looks up and opens a chat
 * with; then C stops listening and A's account writes to it. Each of those deliveries must end
 * `failed` once the horizon has passed, the sender must see `parley.delivery: "failed"` on each
 * message, and nothing else may be lost (the main checks, which leave C's deliveries out).
 */
export interface DownReceiver {
  /** C's host (`127.0.0.1:port`): its deliveries are expected to fail. */
  host: string;
  /** Writes `count` messages to C (C is down by then); resolves once the API accepted them. */
  send(count: number, runId: string): Promise<void>;
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
  /** Seconds from the message's POST to its delivery's end, max. */
  failedAfterS: number | null;
  ok: boolean;
}

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

  return {
    host,
    async send(count, runId) {
      await Promise.all(
        Array.from({ length: count }, async (_, k) => {
          const tag = `h${runId}-${k}-x`;
          for (let tries = 0; tries < 20; tries++) {
            const posted = await call(A.api, me.token, "POST", `/api/v1/pleroma/chats/${chat.id}/messages`, { content: `down ${tag}` }, { "idempotency-key": tag });
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
    async pending() {
      const [row] = await A.p.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM deliveries WHERE status = 'pending' AND starts_with(inbox_url, ${`http://${host}/`})`;
      return row.n;
    },
    async check() {
      const rows = await A.p.sql<{ status: string; n: number; last: number | null }[]>`
        SELECT status, count(*)::int AS n, (max(extract(epoch FROM updated_at)) * 1000)::float8 AS last
        FROM deliveries WHERE starts_with(inbox_url, ${`http://${host}/`}) GROUP BY status`;
      const deliveries = Object.fromEntries(rows.map((r) => [r.status, r.n]));
      const page = await call(A.api, me.token, "GET", `/api/v1/pleroma/chats/${chat.id}/messages?limit=40`);
      const mine = (page.status === 200 ? (page.body as { id: string; parley?: { delivery?: string } }[]) : []).filter((m) => sentAt.has(m.id));
      const senderSeesFailed = mine.filter((m) => m.parley?.delivery === "failed").length;
      const last = rows.find((r) => r.status === "failed")?.last ?? null;
      const first = Math.min(...sentAt.values());
      return {
        sent: sentAt.size,
        deliveries,
        senderSeesFailed,
        failedAfterS: last !== null && Number.isFinite(first) ? Math.round((last - first) / 100) / 10 : null,
        ok: sentAt.size > 0 && senderSeesFailed === sentAt.size && (deliveries.failed ?? 0) === sentAt.size && Object.keys(deliveries).length === 1,
      };
    },
  };
}
