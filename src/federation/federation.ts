import { createFederation, type Federation, getAuthenticatedDocumentLoader } from "@fedify/fedify";
import { Endpoints, Person } from "@fedify/vocab";
import { type DocumentLoader, getDocumentLoader } from "@fedify/vocab-runtime";
import { Temporal } from "@js-temporal/polyfill";
import { asc, eq } from "drizzle-orm";
import { readFileSync } from "node:fs";
import { findLocalAccountByUsername } from "../accounts/account.view.js";
import { accountKeys } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { importKeyPair } from "./keys.js";
import { PostgresKvStore } from "./kv.js";

export type ParleyFederation = Federation<void>;

export const litepubContext = JSON.parse(
  readFileSync(new URL("./contexts/litepub-0.1.json", import.meta.url), "utf8"),
) as { "@context": unknown };

/**
 * Pleroma's litepub context is served by every instance at /schemas/litepub-0.1.jsonld; bundling
 * it means a new peer never costs a fetch, and `ChatMessage` always parses as ChatMessage.
 */
function withLitepub(loader: DocumentLoader): DocumentLoader {
  return async (url, options) => {
    if (url.endsWith("/schemas/litepub-0.1.jsonld")) {
      return { contextUrl: null, documentUrl: url, document: litepubContext };
    }
    return loader(url, options);
  };
}

export function buildFederation(deps: Pick<Deps, "db" | "config">): ParleyFederation {
  const { db, config } = deps;
  // allowPrivateAddress must reach all three loaders once any of them is customised.
  // (Fedify refuses these options at the top level once a loader is customised.)
  const loaderOptions = {
    allowPrivateAddress: config.allowPrivateAddress,
    userAgent: { software: "Parley/0.1.0", url: new URL(config.publicUrl) },
  };
  const federation = createFederation<void>({
    kv: new PostgresKvStore(db),
    origin: config.publicUrl,
    documentLoaderFactory: (options) => withLitepub(getDocumentLoader({ ...options, ...loaderOptions })),
    contextLoaderFactory: (options) => withLitepub(getDocumentLoader({ ...options, ...loaderOptions })),
    authenticatedDocumentLoaderFactory: (identity, options) =>
      withLitepub(getAuthenticatedDocumentLoader(identity, { ...options, ...loaderOptions })),
    // Pleroma and Akkoma only speak draft-cavage; RFC 9421 first would cost every delivery a 401 round trip.
    firstKnock: "draft-cavage-http-signatures-12",
  });

  federation
    .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
      const account = await findLocalAccountByUsername(db, identifier);
      // One canonical actor URI per account: other spellings of the name are not actors.
      if (!account || account.username !== identifier) return null;
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
    .setKeyPairsDispatcher(async (_ctx, identifier) => {
      const account = await findLocalAccountByUsername(db, identifier);
      if (!account) return [];
      // RSA first: it is the `publicKey` Pleroma and Mastodon verify with.
      const rows = await db
        .select()
        .from(accountKeys)
        .where(eq(accountKeys.accountId, account.id))
        .orderBy(asc(accountKeys.algorithm));
      rows.sort((a, b) => (a.algorithm === "RSASSA-PKCS1-v1_5" ? -1 : b.algorithm === "RSASSA-PKCS1-v1_5" ? 1 : 0));
      return Promise.all(rows.map((row) => importKeyPair(row)));
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

  // Signatures are verified here already; handling Create{ChatMessage} and friends arrives with
  // federation between servers (issue 3). Until then a signed activity is acknowledged and ignored.
  federation
    .setInboxListeners("/users/{identifier}/inbox", "/inbox")
    // A refused signature answers JSON like the rest of the API (SPEC §4.2), with Fedify's reason:
    // noSignature, invalidSignature or keyFetchError.
    .onUnverifiedActivity((_ctx, _activity, reason) =>
      Response.json({ error: "invalid_signature", reason: reason.type }, { status: 401 }),
    );

  return federation;
}
