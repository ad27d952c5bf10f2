import { inArray } from "drizzle-orm";
import type { AccountRow } from "../accounts/account.view.js";
import type { Transaction } from "../db/database.js";
import { accounts, deliveries } from "../db/schema/index.js";
import { isHostBlocked } from "../federation/domain-blocks.js";
import { type DeliveryJobRef, enqueueDeliveries, inboxOf } from "../federation/outgoing/deliveries.js";
import { ACTOR_TTL_MS, RemoteActorError, resolveRemoteActor } from "../federation/remote-actors.js";
import type { Deps } from "../shared/deps.js";
import { DomainError } from "../shared/errors.js";
import { newId } from "../shared/ids.js";
import { publishMlsMessages } from "../streaming/events.js";
import type { Envelope } from "./envelope.js";
import type { Framing } from "./framing.js";
import { MLS_JSON_CONTEXT } from "./key-packages.service.js";
import { gateCommit, type StoredMlsObject, storeMlsObject } from "./mls-objects.service.js";

/**
 * A local client's MLS message (PrivateMessage, PublicMessage, Welcome, GroupInfo) posted to its
 * outbox: Parley assigns the ids, stores the object once (a mailbox row for each local recipient,
 * the sender's own other devices included when it addresses itself), and writes one delivery per
 * remote inbox — a server's shared inbox once, whatever the number of its recipients — in the same
 * transaction; the signed, retried, per-host-limited delivery pipeline sends them. `content` goes
 * out byte for byte as the client sent it.
 */

type Json = Record<string, unknown>;

/** What the client may say about the object beside the envelope; the rest is Parley's to set. */
const KEPT_PROPERTIES = ["type", "mediaType", "encoding", "content", "summary", "generator", "conversation", "context"] as const;

const refuse = (reason: string, details: Json = {}) => new DomainError("unprocessable", "invalid_mls_object", { reason, ...details });

export const mlsObjectUri = (publicUrl: string, id: string) => `${publicUrl}/mls-objects/${id}`;

/**
 * The accounts `to` names, each resolved (local, cached or fetched); refused when one cannot be
 * reached. Known accounts come from one query: a group of a hundred is one statement, not a hundred
 * (concurrent lookups also crowded postgres.js's connection pipelines).
 */
async function resolveRecipients(deps: Deps, uris: string[]): Promise<AccountRow[]> {
  const known = new Map((await deps.db.select().from(accounts).where(inArray(accounts.uri, uris))).map((row) => [row.uri, row]));
  const usable = (row: AccountRow | undefined) =>
    row && (row.domain === null || (row.fetchedAt && Date.now() - row.fetchedAt.getTime() < ACTOR_TTL_MS)) ? row : undefined;
  return Promise.all(
    uris.map(async (uri) => {
      try {
        const account = usable(known.get(uri)) ?? (await resolveRemoteActor(deps, uri));
        if (account.deletedAt || account.goneAt) throw refuse("recipient_gone", { recipient: uri });
        if (account.domain !== null && !inboxOf(account)) throw refuse("recipient_has_no_inbox", { recipient: uri });
        return account;
      } catch (error) {
        if (!(error instanceof RemoteActorError)) throw error;
        throw refuse(error.details.account?.goneAt ? "recipient_gone" : "unknown_recipient", { recipient: uri });
      }
    }),
  );
}

export interface SentMlsMessage {
  activity: Json;
  stored: Extract<StoredMlsObject, { stored: true }>;
}

export async function sendMlsMessage(
  deps: Deps,
  owner: AccountRow,
  submitted: Json,
  checked: { envelope: Envelope; framing: Framing },
): Promise<SentMlsMessage> {
  const recipients = await resolveRecipients(deps, checked.envelope.recipients);
  const remoteHosts = [...new Set(recipients.flatMap((r) => (r.domain ? [r.domain] : [])))];
  for (const host of remoteHosts) {
    if (await isHostBlocked(deps.db, host)) throw refuse("recipient_domain_blocked", { domain: host });
  }

  const id = newId();
  const objectUri = mlsObjectUri(deps.config.publicUrl, id);
  const published = new Date().toISOString();
  const to = recipients.map((r) => r.uri);
  const object: Json = { id: objectUri };
  for (const key of KEPT_PROPERTIES) if (submitted[key] !== undefined) object[key] = submitted[key];
  Object.assign(object, { attributedTo: owner.uri, to, published });
  const activity: Json = {
    "@context": MLS_JSON_CONTEXT,
    id: `${objectUri}/create`,
    type: "Create",
    actor: owner.uri,
    to,
    published,
    object,
  };

  const refs: DeliveryJobRef[] = [];
  const stored = await deps.db.transaction(async (tx) => {
    await gateCommit(tx, owner, checked.framing);
    const result = await storeMlsObject(tx, {
      id,
      sender: owner,
      objectUri,
      activityUri: String(activity.id),
      activity,
      envelope: checked.envelope,
      framing: checked.framing,
      recipients,
    });
    if (!result.stored) throw new Error(`a new MLS object id was already taken: ${objectUri}`);
    await publishMlsMessages(tx, result.mailbox);
    refs.push(...(await writeDeliveries(tx, owner, activity, recipients)));
    return result;
  });
  deps.metrics?.mlsObject("out", checked.envelope.type, checked.framing.typeMismatch);
  await enqueueDeliveries(deps.queues.deliver, refs);
  return { activity, stored };
}

/** One delivery per remote inbox: recipients sharing a server's shared inbox get one POST. */
async function writeDeliveries(tx: Transaction, owner: AccountRow, activity: Json, recipients: AccountRow[]): Promise<DeliveryJobRef[]> {
  const byInbox = new Map<string, { personal: boolean; recipient: AccountRow }>();
  for (const recipient of recipients) {
    if (recipient.domain === null) continue;
    const inbox = inboxOf(recipient);
    if (inbox && !byInbox.has(inbox.url)) byInbox.set(inbox.url, { personal: inbox.personal, recipient });
  }
  if (byInbox.size === 0) return [];
  const rows = [...byInbox].map(([inboxUrl, { personal, recipient }]) => ({
    id: newId(),
    messageId: null,
    senderId: owner.id,
    // A 404 from an actor's own inbox says that actor is gone; from a shared inbox it says nothing.
    recipientId: personal ? recipient.id : null,
    activityUri: String(activity.id),
    activity,
    inboxUrl,
    personalInbox: personal,
    status: "pending" as const,
    nextAttemptAt: new Date(),
  }));
  await tx.insert(deliveries).values(rows);
  return rows.map((row) => ({ id: row.id, type: "Create", inboxUrl: row.inboxUrl, messageId: null }));
}
