import { randomBytes } from "node:crypto";
import type postgres from "postgres";
import type { DeliveryTuning } from "../../src/federation/outgoing/policy.js";
import { newId } from "../../src/shared/ids.js";
import type { InboxSink } from "./inbox-sink.js";
import { api, type TestParley } from "./parley.js";

/** Delivery timings short enough for tests (production defaults: policy.ts). */
export const FAST_DELIVERY: Partial<DeliveryTuning> = {
  backoffBaseMs: 200,
  requestTimeoutMs: 1_500,
  connectTimeoutMs: 1_000,
  slotWaitMs: 50,
  reconcileGraceMs: 0,
};

export interface RemoteAccountOptions {
  /** Give the account the sink's shared inbox (default true); without it, only the personal inbox. */
  sharedInbox?: boolean;
  acceptsChatMessages?: boolean | null;
  software?: string | null;
}

/** A remote account whose inboxes are the sink's, written straight into the database. */
export async function insertRemoteAccount(
  instance: Pick<TestParley, "parley"> | { sql: postgres.Sql },
  sink: InboxSink,
  options: RemoteAccountOptions = {},
) {
  const username = `r${randomBytes(4).toString("hex")}`;
  const id = newId();
  const uri = `${sink.url}/users/${username}`;
  const sql = "sql" in instance ? instance.sql : instance.parley.deps.db.$client;
  await sql`INSERT INTO accounts (id, username, domain, uri, url, inbox_url, shared_inbox_url, accepts_chat_messages, software, fetched_at)
    VALUES (${id}, ${username}, ${new URL(sink.url).host}, ${uri}, ${uri}, ${sink.personalInbox(username)},
      ${options.sharedInbox === false ? null : sink.sharedInbox},
      ${options.acceptsChatMessages === undefined ? true : options.acceptsChatMessages},
      ${options.software === undefined ? "pleroma" : options.software}, now())`;
  return { id, username, uri, acct: `${username}@${new URL(sink.url).host}` };
}

export async function waitUntil<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The deliveries rows of a message (by the API's message reference id). */
export async function deliveriesOf(instance: TestParley, refId: string) {
  const sql = instance.parley.deps.db.$client;
  return sql`SELECT d.* FROM deliveries d JOIN message_refs r ON r.message_id = d.message_id WHERE r.id = ${refId} ORDER BY d.created_at, d.id`;
}

/** Opens a chat from a local account to a remote one and returns a sender bound to it. */
export async function chatTo(instance: TestParley, token: string, remoteId: string) {
  const client = api(instance.url, token);
  const opened = await client.post(`/api/v1/pleroma/chats/by-account-id/${remoteId}`);
  if (opened.status !== 200) throw new Error(`open chat: ${opened.status} ${JSON.stringify(opened.body)}`);
  const chatId = opened.body.id as string;
  return {
    chatId,
    client,
    send: (content: string) => client.post(`/api/v1/pleroma/chats/${chatId}/messages`, { content }),
    /** The sender's view of one message. */
    view: async (refId: string) => {
      const list = await client.get(`/api/v1/pleroma/chats/${chatId}/messages`);
      return (list.body as any[]).find((m) => m.id === refId);
    },
    /** Waits until the sender sees this delivery state. */
    until: (refId: string, state: "pending" | "delivered" | "failed", timeoutMs?: number) =>
      waitUntil(
        async () => {
          const list = await client.get(`/api/v1/pleroma/chats/${chatId}/messages`);
          const found = (list.body as any[]).find((m) => m.id === refId);
          return found?.parley?.delivery === state ? found : undefined;
        },
        timeoutMs,
        `delivery ${state}`,
      ),
  };
}
