import { readFileSync } from "node:fs";
import { createFederation, type Federation } from "@fedify/fedify";
import { Activity, Endpoints, Person, Tombstone } from "@fedify/vocab";
import { Temporal } from "@js-temporal/polyfill";
import { eq } from "drizzle-orm";
import { findLocalAccountByUsername } from "../accounts/account.view.js";
import { accountKeys } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { INBOUND_ACTIVITIES } from "./inbox/handlers.js";
import { type ContextData, liveLocalAccountFor, localAccountFor } from "./inbox/inbox-context.js";
import { onOtherActivity } from "./inbox/on-other.js";
import { onUnverifiedActivity } from "./inbox/on-unverified.js";
import { accountKeyPairs } from "./keys.js";
import { PostgresKvStore } from "./kv.js";
import { authenticatedRemoteDocumentLoader, remoteDocumentLoader } from "./remote-actors.js";

/** Context data: the inbox request's raw body and a listener's verdict (see inbox/inbox-context.ts). */
export type ParleyFederation = Federation<ContextData>;

export const litepubContext = JSON.parse(readFileSync(new URL("./contexts/litepub-0.1.json", import.meta.url), "utf8")) as {
  "@context": unknown;
};

export function buildFederation(deps: Pick<Deps, "db" | "config" | "queues" | "logger">): ParleyFederation {
  const { db, config } = deps;
  // Remote public keys are read on every inbox request: a minute in memory saves that round trip.
  const kv = new PostgresKvStore(db, { prefixes: [["_fedify", "publicKey"]], ttlMs: 60_000, maxEntries: 10_000 });
  // Every remote fetch of Fedify (keys, objects, contexts) goes through safeFetch: the SSRF guard
  // (ALLOW_PRIVATE_ADDRESS), 3 redirects, 1 MiB, timeouts. Pleroma's litepub context and Fedify's
  // preloaded ones are answered locally, so `ChatMessage` always parses as ChatMessage; other
  // contexts are cached in the KV store for 5 minutes (Fedify's default). Fedify's own
  // allowPrivateAddress option stays unset: it cannot be combined with custom loaders.
  // Built once: Fedify asks its factories for a loader on every request (a context loader with its
  // cache rules cost ~4 % of the inbox's CPU when rebuilt each time).
  const documentLoader = remoteDocumentLoader(config);
  const contextLoader = remoteDocumentLoader(config, { contextCache: kv });
  const federation = createFederation<ContextData>({
    kv,
    origin: config.publicUrl,
    documentLoaderFactory: () => documentLoader,
    contextLoaderFactory: () => contextLoader,
    authenticatedDocumentLoaderFactory: (identity) => authenticatedRemoteDocumentLoader(config, identity),
    // Pleroma and Akkoma only speak draft-cavage; RFC 9421 first would cost every delivery a 401 round trip.
    firstKnock: "draft-cavage-http-signatures-12",
  });

  federation
    .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
      const account = await localAccountFor(db, ctx.data, identifier);
      // One canonical actor URI per account: other spellings of the name are not actors.
      if (!account || account.username !== identifier) return null;
      if (account.deletedAt) {
        // Fedify answers 410 Gone for a Tombstone.
        return new Tombstone({
          id: ctx.getActorUri(identifier),
          deleted: Temporal.Instant.fromEpochMilliseconds(account.deletedAt.getTime()),
        });
      }
      const keys = await ctx.getActorKeyPairs(identifier);
      return new Person({
        id: ctx.getActorUri(identifier),
        preferredUsername: account.username,
        name: account.displayName || account.username,
        summary: account.note || null,
        url: new URL(account.url ?? account.uri),
        published: Temporal.Instant.fromEpochMilliseconds(account.createdAt.getTime()),
        inbox: ctx.getInboxUri(identifier),
        outbox: ctx.getOutboxUri(identifier),
        endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
        manuallyApprovesFollowers: false,
        publicKey: keys[0]?.cryptographicKey,
        assertionMethods: keys.map((key) => key.multikey),
      });
    })
    .mapHandle(async (_ctx, username) => (await findLocalAccountByUsername(db, username))?.username ?? null)
    .setKeyPairsDispatcher(async (ctx, identifier) => {
      const account = await liveLocalAccountFor(db, ctx.data, identifier);
      if (!account) return [];
      return accountKeyPairs(account.id, async () => {
        const rows = await db.select().from(accountKeys).where(eq(accountKeys.accountId, account.id));
        // RSA first: it is the `publicKey` Pleroma and Mastodon verify with.
        return rows.sort((a, b) => (a.algorithm === "RSASSA-PKCS1-v1_5" ? -1 : b.algorithm === "RSASSA-PKCS1-v1_5" ? 1 : 0));
      });
    });

  // Inbox and outbox are private: chats are never listed publicly, so both read as empty
  // OrderedCollections (AP §5.1–5.2 make them GETtable). Unknown accounts have none (404).
  const emptyCollection = async (identifier: string) => {
    const account = await findLocalAccountByUsername(db, identifier);
    return account && account.username === identifier ? { items: [] } : null;
  };
  const zeroItems = async (identifier: string) => ((await emptyCollection(identifier)) ? 0 : null);
  federation
    .setOutboxDispatcher("/users/{identifier}/outbox", (_ctx, identifier) => emptyCollection(identifier))
    .setCounter((_ctx, identifier) => zeroItems(identifier));
  federation
    .setInboxDispatcher("/users/{identifier}/inbox", (_ctx, identifier) => emptyCollection(identifier))
    .setCounter((_ctx, identifier) => zeroItems(identifier));

  // Inbox (docs/federation.md): Fedify verifies the signature and the key's owner, then one listener per
  // activity type (inbox/handlers.ts: each type's listener and apply handler). A listener refuses
  // by recording a verdict the bridge answers with; what it accepts is written to inbox_activities
  // before the 202 and applied by the inbound worker (workers/inbound.ts) with the same entry.
  const inbox = federation
    .setInboxListeners("/users/{identifier}/inbox", "/inbox")
    // No de-duplication by Fedify (two KV round trips per activity): what the listeners store is
    // de-duplicated by activity id in inbox_activities, and what they do not store is a no-op.
    .withIdempotency(() => null);
  for (const activity of Object.values(INBOUND_ACTIVITIES)) activity.listen(inbox, deps);
  inbox
    // Fedify calls the listener of the most specific class: this one only sees the other types.
    .on(Activity, onOtherActivity(deps))
    // A refused signature answers JSON like the rest of the API, with Fedify's reason.
    .onUnverifiedActivity(onUnverifiedActivity(deps))
    // Fedify answers 500 after this; the bridge reads the error (a lost database → 503).
    .onError((ctx, error) => {
      if (ctx.data) ctx.data.error = error;
    });

  return federation;
}
