import { isIP } from "node:net";
import { and, eq, isNull, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import type { Database, Executor } from "../db/database.js";
import { linkCards, messages } from "../db/schema/index.js";
import { parleyUserAgent } from "../federation/document-loader.js";
import { RemoteFetchError, type SafeFetchOptions, safeFetch } from "../federation/http-client.js";
import type { Deps } from "../shared/deps.js";
import type { Logger } from "../shared/logger.js";
import { publishMessageUpdate } from "../streaming/events.js";
import { type PreviewCard, parseCard } from "./card-parser.js";

/**
 * Link preview cards (Pleroma's rich media): the first link of a message gets a card fetched after
 * the message is stored, once per URL. `link_cards` is the source of truth — a claim, then the
 * outcome — and a job only says "look at this URL for this message": a lost job loses a preview,
 * nothing else. The card never delays or fails a send.
 */

/** What a link card job carries (job name `card <host>`). */
export interface LinkCardJob {
  url: string;
  messageId: string;
}

export const LINK_CARD_JOB = "card";
/** A page with nothing to show (`none`) or unreachable (`failed`) is tried again after this. */
export const LINK_CARD_RETRY_AFTER_MS = 24 * 3_600_000;
/** A claim older than this is taken over: its worker died during the fetch. */
export const LINK_CARD_CLAIM_STALE_MS = 60_000;
/** Read at most this much of a page (the head holds the tags); a larger page gets no card. */
export const LINK_CARD_MAX_BYTES = 512 * 1024;
/** The whole fetch, redirects and body included. */
export const LINK_CARD_TIMEOUT_MS = 5_000;

/** Adds link card jobs after a change committed; never throws, never waits. */
export interface LinkCardRequests {
  request(jobs: LinkCardJob[]): void;
}

/** Requests for the running process: none when LINK_PREVIEWS=false. */
export function linkCardRequests(deps: Pick<Deps, "config" | "queues" | "logger">): LinkCardRequests {
  if (!deps.config.linkPreviews) return { request: () => {} };
  return {
    request(jobs) {
      for (const job of jobs) {
        // Not awaited: a queue that is slow or down costs the sender nothing; the preview is lost.
        deps.queues.linkCards
          .add(jobName(job.url), job, { removeOnComplete: 100, removeOnFail: 100 })
          .catch((error: unknown) => deps.logger.warn({ err: error, url: job.url, message: job.messageId }, "link card job not added"));
      }
    },
  };
}

function jobName(url: string): string {
  try {
    return `${LINK_CARD_JOB} ${new URL(url).host}`;
  } catch {
    return LINK_CARD_JOB;
  }
}

/**
 * The ready card of a message's link, as a correlated subquery of the message's row (the link_cards
 * primary key; nothing looked up for a message without a link).
 */
export function linkCardSql(message: { linkUrl: AnyPgColumn }): SQL<PreviewCard | null> {
  return sql<PreviewCard | null>`(CASE WHEN ${message.linkUrl} IS NOT NULL THEN
      (SELECT lc.card FROM ${linkCards} lc WHERE lc.url = ${message.linkUrl} AND lc.status = 'ready') END)`.mapWith((value: unknown) =>
    typeof value === "string" ? (JSON.parse(value) as PreviewCard) : (value as PreviewCard | null),
  );
}

/** The ready card of a URL, for a response rendered from rows in hand. */
export async function readyCard(db: Executor, url: string | null): Promise<PreviewCard | null> {
  if (url === null) return null;
  const [row] = await db
    .select({ card: linkCards.card })
    .from(linkCards)
    .where(and(eq(linkCards.url, url), eq(linkCards.status, "ready")));
  return (row?.card as PreviewCard | undefined) ?? null;
}

export type LinkCardOutcome = "ready" | "none" | "failed" | "cached" | "waiting";

/**
 * One job: claim the URL (absent, retry time passed, or a stale claim) and fetch it; or, when
 * another job holds the claim, `waiting` (the caller tries again shortly); or use what is stored.
 * The message is streamed again when the card became ready after it was written.
 */
export async function runLinkCardJob(deps: Pick<Deps, "db" | "config" | "logger">, job: LinkCardJob): Promise<LinkCardOutcome> {
  const { db } = deps;
  const [claimed] = await db
    .insert(linkCards)
    .values({ url: job.url, status: "pending", fetchedAt: sql`now()` })
    .onConflictDoUpdate({
      target: linkCards.url,
      set: { status: "pending", card: null, fetchedAt: sql`now()` },
      setWhere: sql`(${linkCards.status} IN ('none', 'failed') AND ${linkCards.fetchedAt} < now() - make_interval(secs => ${LINK_CARD_RETRY_AFTER_MS / 1000}))
        OR (${linkCards.status} = 'pending' AND ${linkCards.fetchedAt} < now() - make_interval(secs => ${LINK_CARD_CLAIM_STALE_MS / 1000}))`,
    })
    .returning({ url: linkCards.url });
  if (!claimed) {
    const [row] = await db.select().from(linkCards).where(eq(linkCards.url, job.url));
    if (!row || row.status === "pending") return "waiting";
    if (row.status === "ready" && row.fetchedAt) await streamMessage(db, job, row.fetchedAt);
    return "cached";
  }
  const { status, card } = await fetchCard(deps, job.url);
  await db
    .update(linkCards)
    .set({ status, card, fetchedAt: sql`now()` })
    .where(and(eq(linkCards.url, job.url), eq(linkCards.status, "pending")));
  if (status === "ready") await streamMessage(db, job);
  return status;
}

/**
 * Streams the message again when it still links the URL — with `readyAt`, only when it was last
 * written before the card was ready (it may have been shown without it).
 */
async function streamMessage(db: Database, job: LinkCardJob, readyAt?: Date): Promise<void> {
  const conditions = [eq(messages.id, job.messageId), eq(messages.linkUrl, job.url), isNull(messages.deletedAt)];
  if (readyAt) conditions.push(sql`coalesce(${messages.editedAt}, ${messages.createdAt}) <= ${readyAt.toISOString()}`);
  const [message] = await db
    .select({ id: messages.id })
    .from(messages)
    .where(and(...conditions));
  if (message) await publishMessageUpdate(db, message.id);
}

type Fetched = { status: "ready"; card: PreviewCard } | { status: "none" | "failed"; card: null };

/**
 * Fetches a page through the SSRF-guarded client and parses its card. `none`: nothing to show
 * (not 200, not HTML, too large, no title, refused address); `failed`: worth another try later
 * (network, timeout, 5xx, 429). `guard` is for tests of the address guard (safeFetch's `allowAddress`).
 */
export async function fetchCard(
  deps: Pick<Deps, "config" | "logger">,
  url: string,
  guard: Pick<SafeFetchOptions, "allowAddress"> = {},
): Promise<Fetched> {
  const none = { status: "none", card: null } as const;
  const failed = { status: "failed", card: null } as const;
  // As Pleroma: an IP literal is no site to preview (private ones are refused by safeFetch anyway).
  if (!deps.config.allowPrivateAddress && isIP(new URL(url).hostname.replace(/^\[|\]$/g, ""))) return none;
  try {
    const response = await safeFetch(url, {
      ...guard,
      allowPrivateAddress: deps.config.allowPrivateAddress,
      maxBytes: LINK_CARD_MAX_BYTES,
      timeoutMs: LINK_CARD_TIMEOUT_MS,
      headers: { accept: "text/html, application/xhtml+xml;q=0.9", "user-agent": `${parleyUserAgent(deps.config.publicUrl)}; Bot` },
    });
    if (response.status !== 200) return response.status >= 500 || response.status === 429 ? failed : none;
    const type = /^\s*([^;\s]+)(?:.*;\s*charset="?([^";\s]+))?/i.exec(response.headers["content-type"] ?? "");
    if (!type || !/^(text\/html|application\/xhtml\+xml)$/i.test(type[1])) return none;
    const card = parseCard(decode(response.body, type[2]), url, response.url);
    return card ? { status: "ready", card } : none;
  } catch (error) {
    log(deps.logger, url, error);
    if (error instanceof RemoteFetchError && (error.code === "timeout" || error.code === "network")) return failed;
    return error instanceof RemoteFetchError ? none : failed;
  }
}

function decode(body: Buffer, charset: string | undefined): string {
  try {
    return new TextDecoder(charset ?? "utf-8").decode(body);
  } catch {
    return new TextDecoder("utf-8").decode(body);
  }
}

function log(logger: Logger, url: string, error: unknown): void {
  logger.debug({ url, err: error }, "link card: page not fetched");
}
