import { and, eq, isNotNull, sql } from "drizzle-orm";
import { type AccountRow, findLocalAccountByUsername } from "../accounts/account.view.js";
import { sanitizeRemoteHtml } from "../chats/compose.js";
import { pgErrorCode } from "../db/database.js";
import { accounts } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { newId } from "../shared/ids.js";
import { unsafeCharacterIn, withoutUnsafeCharacters } from "./actor-text.js";
import { ACTIVITY_JSON, isActivityJson, parleyUserAgent } from "./document-loader.js";
import { RemoteFetchError, type RemoteFetchErrorCode, safeFetch } from "./http-client.js";
import { nodeinfoSoftware } from "./nodeinfo.js";
import { webfingerActorUri } from "./webfinger.js";

export { authenticatedRemoteDocumentLoader, remoteDocumentLoader } from "./document-loader.js";

/**
 * Remote actors, cached as `accounts` rows (domain = `host[:port]`): fetched through safeFetch,
 * validated (an actor whose `id` is the URI asked for, served by that id's own origin), refreshed
 * at most daily unless asked, and marked gone on 404/410.
 */

export type RemoteActorErrorCode =
  | RemoteFetchErrorCode
  | "not_found" // a URI on our own origin that is no local account
  | "http_error" // any other non-2xx answer (`status`)
  | "gone" // 404/410 or a Tombstone (`account` has gone_at set when the actor was known)
  | "invalid_json"
  | "not_an_actor"
  | "id_mismatch" // `id` is not the URI asked for, or not on the origin that served it (`actualId`)
  | "invalid_actor" // no usable preferredUsername (bidi, zero-width or control characters included) or inbox
  | "username_conflict"; // another actor of the same server already holds name@host

export class RemoteActorError extends Error {
  constructor(
    readonly code: RemoteActorErrorCode,
    message: string,
    readonly details: {
      /** The last known row of the actor, when there is one (stale, or now marked gone). */
      account?: AccountRow;
      status?: number;
      /** For `id_mismatch`: the id the document claims (an alias or profile URL points there). */
      actualId?: string;
    } = {},
  ) {
    super(message);
    this.name = "RemoteActorError";
  }
}

type ActorDeps = Pick<Deps, "db" | "config" | "logger">;

/** How long a fetched actor is served from the cache. */
export const ACTOR_TTL_MS = 24 * 3600_000;
const ACTOR_TYPES = new Set(["Person", "Service", "Application", "Group", "Organization"]);

const httpUrl = (value: unknown): string | null => {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
};

/** The first http(s) URL in an AS2 `url`/`icon` value: a string, a Link/Image, or a list of them. */
function firstUrl(value: unknown, depth = 0): string | null {
  if (depth > 2 || value == null) return null;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = firstUrl(item, depth + 1);
      if (found) return found;
    }
    return null;
  }
  if (typeof value === "object") {
    const object = value as { href?: unknown; url?: unknown };
    return httpUrl(object.href) ?? firstUrl(object.url, depth + 1);
  }
  return httpUrl(value);
}

const text = (value: unknown, max: number) => (typeof value === "string" ? value.trim().slice(0, max) : "");

/** Returns the actor's row, fetching it when unknown, older than a day, or `refresh` is set. */
export async function resolveRemoteActor(deps: ActorDeps, actorUri: string, options: { refresh?: boolean } = {}): Promise<AccountRow> {
  const uri = httpUrl(actorUri);
  if (!uri) throw new RemoteActorError("invalid_url", `not an http(s) URL: ${actorUri}`);
  const known = await deps.db.query.accounts.findFirst({ where: (a, { eq }) => eq(a.uri, uri) });
  if (known && known.domain === null) return known;
  if (new URL(uri).origin === new URL(deps.config.publicUrl).origin) {
    throw new RemoteActorError("not_found", `no local account ${uri}`);
  }
  if (known && !options.refresh && known.fetchedAt && Date.now() - known.fetchedAt.getTime() < ACTOR_TTL_MS) {
    if (known.goneAt) throw new RemoteActorError("gone", `${uri} is gone`, { account: known });
    return known;
  }
  let document: Record<string, unknown>;
  try {
    document = await fetchActor(deps, uri);
  } catch (error) {
    if (!(error instanceof RemoteActorError)) throw error;
    if (error.code === "gone") throw new RemoteActorError("gone", error.message, { account: await markGone(deps, uri) });
    throw new RemoteActorError(error.code, error.message, { ...error.details, account: known });
  }

  const id = new URL(uri);
  const username = text(document.preferredUsername, 100);
  const inboxUrl = httpUrl(document.inbox);
  if (!username || /[\s@/]/.test(username) || !inboxUrl) {
    throw new RemoteActorError("invalid_actor", `${uri} has no usable preferredUsername or inbox`, { account: known });
  }
  // Refused, not cleaned: a cleaned name could be another actor's name@host (impersonation), and
  // the raw one would show reordered or look-alike in every client's acct.
  const unsafe = unsafeCharacterIn(String(document.preferredUsername));
  if (unsafe) {
    throw new RemoteActorError("invalid_actor", `${uri} has a preferredUsername with ${unsafe} (bidi, zero-width or control character)`, {
      account: known,
    });
  }
  const endpoints = document.endpoints as { sharedInbox?: unknown } | undefined;
  const capabilities = document.capabilities as { acceptsChatMessages?: unknown } | undefined;
  const accepts = capabilities?.acceptsChatMessages;
  const now = new Date();
  const values = {
    username,
    domain: id.host,
    displayName: text(typeof document.name === "string" ? withoutUnsafeCharacters(document.name) : "", 100),
    note: sanitizeRemoteHtml(text(document.summary, 10_000)),
    url: firstUrl(document.url),
    inboxUrl,
    sharedInboxUrl: httpUrl(typeof endpoints === "object" ? endpoints?.sharedInbox : undefined),
    avatarUrl: firstUrl(document.icon),
    acceptsChatMessages: typeof accepts === "boolean" ? accepts : null,
    // Cached per host; a server whose nodeinfo failed this time keeps what it said before.
    // Within a fetch's bound (a server's nodeinfo may hang when its actors answer); not known in
    // time, it is asked again on the next refresh.
    software: (await withinFetchBound(deps, nodeinfoSoftware(deps, uri))) ?? known?.software ?? null,
    goneAt: null,
    fetchedAt: now,
    updatedAt: now,
  };
  try {
    const [row] = await deps.db
      .insert(accounts)
      .values({ id: newId(), uri, ...values })
      .onConflictDoUpdate({ target: accounts.uri, set: values, setWhere: isNotNull(accounts.domain) })
      .returning();
    if (!row) throw new RemoteActorError("not_found", `${uri} is a local account`);
    return row;
  } catch (error) {
    if (pgErrorCode(error) !== "23505") throw error;
    throw new RemoteActorError("username_conflict", `${username}@${id.host} is already another actor`, { account: known });
  }
}

/** The bound of one remote fetch of author or key resolution (REMOTE_FETCH_TIMEOUT_MS). */
export const DEFAULT_REMOTE_FETCH_TIMEOUT_MS = 5_000;
const fetchBoundOf = (deps: ActorDeps) => deps.config.remoteFetchTimeoutMs ?? DEFAULT_REMOTE_FETCH_TIMEOUT_MS;

/** `work`'s value, or null when it takes longer than a remote fetch may (it goes on, unawaited). */
async function withinFetchBound<T>(deps: ActorDeps, work: Promise<T>): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => {});
  try {
    return await Promise.race([work, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), fetchBoundOf(deps))))]);
  } finally {
    clearTimeout(timer);
  }
}

/** GETs the actor document and checks it is an actor whose id is `uri`, served by `uri`'s origin. */
async function fetchActor(deps: ActorDeps, uri: string): Promise<Record<string, unknown>> {
  let answer;
  try {
    answer = await safeFetch(uri, {
      headers: { accept: ACTIVITY_JSON, "user-agent": parleyUserAgent(deps.config.publicUrl) },
      allowPrivateAddress: deps.config.allowPrivateAddress,
      // A hanging server costs the job (or request) resolving its actor this much, not 30 s.
      timeoutMs: fetchBoundOf(deps),
    });
  } catch (error) {
    if (error instanceof RemoteFetchError) throw new RemoteActorError(error.code, error.message);
    throw error;
  }
  if (answer.status === 404 || answer.status === 410) throw new RemoteActorError("gone", `${uri} answered ${answer.status}`);
  if (answer.status < 200 || answer.status > 299) {
    throw new RemoteActorError("http_error", `${uri} answered ${answer.status}`, { status: answer.status });
  }
  // Only an ActivityPub answer is an actor: not a JSON file a user uploaded to that origin.
  if (!isActivityJson(answer.headers["content-type"])) {
    throw new RemoteActorError(
      "invalid_json",
      `${uri} answered ${answer.headers["content-type"] ?? "no content type"}, not ActivityPub JSON`,
    );
  }
  let document: unknown;
  try {
    document = JSON.parse(answer.body.toString("utf8"));
  } catch {
    throw new RemoteActorError("invalid_json", `${uri} did not answer JSON`);
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new RemoteActorError("not_an_actor", `${uri} did not answer a JSON object`);
  }
  const object = document as Record<string, unknown>;
  const types = [object.type].flat();
  if (types.includes("Tombstone")) throw new RemoteActorError("gone", `${uri} is a Tombstone`);
  if (!types.some((type) => typeof type === "string" && ACTOR_TYPES.has(type))) {
    throw new RemoteActorError("not_an_actor", `${uri} is a ${JSON.stringify(object.type)}, not an actor`);
  }
  const id = httpUrl(object.id);
  // Only the server of an id speaks for it: a document claiming another id, or served (after
  // redirects) by another origin, is refused. The claimed id is kept so a lookup by profile URL
  // can follow it to the actor's own server.
  if (id !== uri) {
    throw new RemoteActorError("id_mismatch", `${uri} claims to be ${String(object.id)}`, { actualId: id ?? undefined });
  }
  if (new URL(answer.url).origin !== new URL(id).origin) {
    throw new RemoteActorError("id_mismatch", `${id} was served by ${new URL(answer.url).origin}`);
  }
  return object;
}

async function markGone(deps: ActorDeps, uri: string): Promise<AccountRow | undefined> {
  const now = new Date();
  const [row] = await deps.db
    .update(accounts)
    .set({ goneAt: sql`coalesce(${accounts.goneAt}, now())`, fetchedAt: now, updatedAt: now })
    .where(and(eq(accounts.uri, uri), isNotNull(accounts.domain)))
    .returning();
  return row;
}

/**
 * `name@host[:port]` (WebFinger) or an http(s) actor or profile URL → the account, fetched and
 * cached on first sight; undefined when it cannot be resolved (unknown, gone, refused, invalid).
 */
export async function lookupRemoteAccount(deps: ActorDeps, acct: string): Promise<AccountRow | undefined> {
  const input = acct
    .trim()
    .replace(/^acct:/i, "")
    .replace(/^@/, "");
  try {
    if (/^https?:\/\//i.test(input)) return await resolveFollowingAlias(deps, input);
    const match = /^([^@\s/?#]+)@([^@\s/?#]+)$/.exec(input);
    if (!match) return undefined;
    const name = match[1];
    let host: string;
    try {
      host = new URL(`https://${match[2]}/`).host;
    } catch {
      return undefined;
    }
    if (host === new URL(deps.config.publicUrl).host) return await findLocalAccountByUsername(deps.db, name);
    const cached = await deps.db.query.accounts.findFirst({
      where: (a, { and, eq, gt, isNull, sql }) =>
        and(
          sql`lower(${a.username}) = ${name.toLowerCase()}`,
          eq(a.domain, host),
          isNull(a.goneAt),
          gt(a.fetchedAt, new Date(Date.now() - ACTOR_TTL_MS)),
        ),
    });
    if (cached) return cached;
    const actorUri = await webfingerActorUri(deps, name, host);
    return actorUri ? await resolveFollowingAlias(deps, actorUri) : undefined;
  } catch (error) {
    if (!(error instanceof RemoteActorError)) throw error;
    deps.logger.debug({ acct, code: error.code, err: error.message }, "account lookup failed");
    return undefined;
  }
}

/** A profile URL (or an old alias) answers with the actor's real id: resolve that one instead. */
async function resolveFollowingAlias(deps: ActorDeps, uri: string): Promise<AccountRow> {
  try {
    return await resolveRemoteActor(deps, uri);
  } catch (error) {
    const actualId = error instanceof RemoteActorError && error.code === "id_mismatch" ? error.details.actualId : undefined;
    if (!actualId) throw error;
    return resolveRemoteActor(deps, actualId);
  }
}
