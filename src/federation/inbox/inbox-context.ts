import type { InboxContext } from "@fedify/fedify";
import type { Activity } from "@fedify/vocab";
import { type AccountRow, findLocalAccountByUsername } from "../../accounts/account.view.js";
import type { Executor } from "../../db/database.js";
import type { Deps } from "../../shared/deps.js";
import { httpUrl, isJsonObject, type Json } from "../as-json.js";
import { domainBlockedSql, isHostBlocked } from "../domain-blocks.js";
import { admitSigningHost } from "../outgoing/hosts.js";
import { spendInboxBudget } from "./verified-rate-limit.js";

/**
 * Per-request data shared by the express bridge and the inbox listeners (Fedify's
 * context data): the bridge hands over the raw body; a listener that must refuse
 * records its verdict here and throws, and the bridge answers from the verdict.
 */
export interface RequestData {
  /** The request body exactly as received. */
  body?: Uint8Array;
  /** `body` parsed, once. */
  json?: unknown;
  /** The answer a listener decided on (Fedify itself can only say 202 or 500 after a listener). */
  verdict?: Verdict;
  /** What made Fedify answer 500 (set by the inbox's onError): the bridge answers 503 to a lost dependency. */
  error?: unknown;
  /** Local accounts (deleted ones included) by lower-cased username, read once per request. */
  localAccounts?: Map<string, Promise<AccountRow | undefined>>;
}

/** `undefined` where no request is involved (contexts built by workers). */
export type ContextData = RequestData | undefined;

export interface Verdict {
  status: number;
  body: Record<string, unknown>;
}

export type InboxCtx = InboxContext<ContextData>;

/** What the inbox listeners need. */
export type InboxDeps = Pick<Deps, "db" | "config" | "queues" | "logger">;

/** Thrown by a listener after recording its verdict; the bridge turns it into the answer. */
export class InboxVerdict extends Error {
  constructor(readonly verdict: Verdict) {
    super(`inbox refusal ${verdict.status}: ${JSON.stringify(verdict.body)}`);
    this.name = "InboxVerdict";
  }
}

export function refuse(ctx: InboxCtx, status: number, body: Record<string, unknown>): never {
  const verdict = { status, body };
  if (ctx.data) ctx.data.verdict = verdict;
  throw new InboxVerdict(verdict);
}

/** NUL, and UTF-16 surrogates without their pair (JSON escapes can carry both). */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The parsed JSON with every NUL and lone surrogate (in values and keys) replaced by U+FFFD:
 * PostgreSQL's text and jsonb cannot hold them, and the payload is stored as jsonb (a 500 else).
 */
export function storableJson(value: unknown): unknown {
  if (typeof value === "string") return value.replace(UNSTORABLE, "\ufffd");
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.replace(UNSTORABLE, "\ufffd"), storableJson(item)]));
  }
  return value;
}

/** The activity as the remote server wrote it (the rules look at raw shapes), made storable. */
export async function rawActivity(ctx: InboxCtx, activity: Activity): Promise<Json> {
  const data = ctx.data;
  if (data && data.json === undefined && data.body) {
    try {
      data.json = storableJson(JSON.parse(Buffer.from(data.body).toString("utf8")));
    } catch {
      data.json = null;
    }
  }
  if (isJsonObject(data?.json)) return data.json;
  // No raw body (not reached through the bridge): Fedify's own serialisation is the next best.
  return (await activity.toJsonLd({ format: "compact", contextLoader: ctx.contextLoader })) as Json;
}

/** The verified actor of the activity (Fedify answers 400 itself when there is none). */
export function actorOf(activity: Activity): string {
  if (!activity.actorId) throw new Error("activity without actor");
  return activity.actorId.href;
}

export async function isDomainBlocked(deps: Pick<Deps, "db">, actorUri: string): Promise<boolean> {
  const url = httpUrl(actorUri);
  return url ? isHostBlocked(deps.db, url.host) : false;
}

/**
 * First step of every listener, once the signature is verified: an actor of a domain the admin
 * blocked gets 403, nothing stored; any other signing server is evidently up, so its delivery
 * pause (if any) is lifted (docs/federation.md).
 */
export async function admitVerifiedSender(deps: InboxDeps, ctx: InboxCtx, actorUri: string): Promise<void> {
  // RATE_LIMIT_INBOX, spent only here: after verification, per the verified actor's host.
  if (await spendInboxBudget(deps, ctx, actorUri)) {
    deps.logger.info({ actor: actorUri, reason: "rate_limited" }, "inbox: activity refused");
    refuse(ctx, 429, { error: "rate_limited" });
  }
  const host = new URL(actorUri).host;
  if (!(await admitSigningHost(deps.db, host, domainBlockedSql(host)))) {
    deps.logger.info({ actor: actorUri, reason: "domain_blocked" }, "inbox: activity refused");
    refuse(ctx, 403, { error: "domain_blocked" });
  }
}

/**
 * The activity id: an http(s) URL on the actor's origin, as Pleroma's Federator requires. It is
 * the key of the durable de-duplication, so a server may not claim another server's ids.
 */
export function activityIdOf(ctx: InboxCtx, raw: Json, actorUri: string): string {
  const id = httpUrl(raw.id);
  if (!id) refuse(ctx, 400, { error: "invalid_activity", message: "the activity has no http(s) id" });
  if (id.origin !== httpUrl(actorUri)?.origin) {
    refuse(ctx, 400, { error: "invalid_activity", message: "the activity id is not on the actor's origin" });
  }
  return id.href;
}

/**
 * A local account by username, deleted ones included, read once per request: Fedify asks for the
 * inbox's owner several times (the actor, its key pairs for the authenticated key fetch, the
 * listener). Outside a request (`data` undefined) it is a plain lookup.
 */
export function localAccountFor(db: Executor, data: ContextData, username: string): Promise<AccountRow | undefined> {
  // A NUL (`/users/a%00b`) names no account, and PostgreSQL would refuse the query (a 500).
  if (username.includes("\u0000")) return Promise.resolve(undefined);
  if (!data) return findLocalAccountByUsername(db, username, { includeDeleted: true });
  const key = username.toLowerCase();
  data.localAccounts ??= new Map();
  let account = data.localAccounts.get(key);
  if (!account) {
    account = findLocalAccountByUsername(db, username, { includeDeleted: true });
    data.localAccounts.set(key, account);
  }
  return account;
}

/** The same, live accounts only. */
export async function liveLocalAccountFor(db: Executor, data: ContextData, username: string): Promise<AccountRow | undefined> {
  const account = await localAccountFor(db, data, username);
  return account && !account.deletedAt ? account : undefined;
}

/** The local account whose personal inbox received the request (null: the shared inbox). */
export async function inboxOwnerId(deps: InboxDeps, ctx: InboxCtx): Promise<string | null> {
  if (ctx.recipient == null) return null;
  return (await liveLocalAccountFor(deps.db, ctx.data, ctx.recipient))?.id ?? null;
}

/**
 * The live local account an actor URI of ours names (its canonical spelling only). `db` may be an
 * open transaction; `data` (an inbox request's) shares that request's lookups.
 */
export async function findLocalActor(deps: { db: Executor; config: Pick<Deps["config"], "publicUrl"> }, uri: string, data?: ContextData) {
  const url = httpUrl(uri);
  if (!url || url.origin !== new URL(deps.config.publicUrl).origin) return undefined;
  const match = /^\/users\/([^/]+)$/.exec(url.pathname);
  if (!match || url.search || url.hash) return undefined;
  let username: string;
  try {
    username = decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
  const account = await liveLocalAccountFor(deps.db, data, username);
  return account && account.username === username ? account : undefined;
}
