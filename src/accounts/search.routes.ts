import type { Request, Response } from "express";
import { z } from "zod";
import { lookupRemoteAccount } from "../federation/remote-actors.js";
import { AccountEntity, errors } from "../http/entities.js";
import { booleanLike, defineRoute } from "../http/route.js";
import { isDependencyDown } from "../http/unavailable.js";
import type { Deps } from "../shared/deps.js";
import type { AccountRow } from "./account.view.js";
import { renderAccount } from "./account.view.js";
import { searchAccounts } from "./search.view.js";

const tags = ["search"];

/** `limit` as Mastodon takes it: a default and a maximum (a larger value is clamped, below 1 refused). */
const limitOf = (fallback: number, max: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .default(fallback)
    .transform((n) => Math.min(n, max))
    .meta({ description: `Default ${fallback}, at most ${max}` });

const common = {
  q: z.string().max(1000).meta({ description: "A name, `name@host` (or the start of one), a display name, or an actor URL" }),
  resolve: booleanLike
    .default(false)
    .meta({ description: "Look `name@host` or an actor URL up on its server (WebFinger) when not known yet" }),
  offset: z.coerce.number().int().min(0).default(0),
  following: z.unknown().optional().meta({ description: "Accepted and ignored: Parley has no follows" }),
};

/** `name@host`, `@name@host` or an http(s) URL: what a remote lookup can resolve. */
const RESOLVABLE = /^(@?[^@\s/]+@[^@\s/]+|https?:\/\/\S+)$/i;

/**
 * The account a resolvable query names, fetched and cached through the one SSRF-guarded client as
 * `/api/v1/accounts/lookup` does; undefined when it cannot be found. A failed lookup is no error
 * of the search (there is just no remote result); only a database outage is.
 */
async function resolveQuery(deps: Deps, query: string): Promise<AccountRow | undefined> {
  const text = query.trim();
  if (!RESOLVABLE.test(text)) return undefined;
  try {
    return await lookupRemoteAccount(deps, text);
  } catch (error) {
    if (isDependencyDown(error)) throw error;
    deps.logger.warn({ err: error, query: text }, "search: resolving the query failed");
    return undefined;
  }
}

async function findPeople(
  deps: Deps,
  viewer: AccountRow,
  query: { q: string; resolve: boolean; limit: number; offset: number },
): Promise<AccountRow[]> {
  if (!query.q.trim()) return [];
  const resolved = query.resolve ? await resolveQuery(deps, query.q) : undefined;
  return searchAccounts(deps.db, {
    query: query.q,
    viewerId: viewer.id,
    localHost: new URL(deps.config.publicUrl).host,
    limit: query.limit,
    offset: query.offset,
    resolvedId: resolved?.id,
  });
}

/** A `next` link at the following offset when the page is full (Soapbox's chat search scrolls on it). */
function setNextLink(req: Request, res: Response, publicUrl: string, query: { limit: number; offset: number }, count: number) {
  if (count < query.limit) return;
  const url = new URL(req.path, publicUrl);
  for (const [key, value] of Object.entries(req.query)) {
    if (key === "offset") continue;
    for (const v of [value].flat()) if (typeof v === "string") url.searchParams.append(key, v);
  }
  url.searchParams.set("offset", String(query.offset + query.limit));
  res.set("Link", `<${url.href}>; rel="next"`);
}

const SearchResultsEntity = z
  .object({
    accounts: z.array(AccountEntity),
    statuses: z.array(z.never()).meta({ description: "Always empty: Parley has no statuses" }),
    hashtags: z.array(z.never()).meta({ description: "Always empty: Parley has no hashtags" }),
  })
  .meta({ id: "SearchResults" });

export const searchRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/accounts/search",
    summary: "Find accounts by name, `name@host` or display name; `resolve=true` looks a `name@host` up on its server",
    tags,
    auth: "user",
    query: z.object({ ...common, limit: limitOf(40, 80) }),
    responses: {
      200: { description: "Accounts, best match first; Link `next` when the page is full", schema: z.array(AccountEntity) },
      ...errors,
    },
    async handle({ deps, account, query, req, res }) {
      const found = await findPeople(deps, account, query);
      setNextLink(req, res, deps.config.publicUrl, query, found.length);
      return found.map((row) => renderAccount(row, deps.config.publicUrl));
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v2/search",
    summary: "Search: accounts as `/api/v1/accounts/search` finds them; statuses and hashtags always empty",
    tags,
    auth: "user",
    query: z.object({
      ...common,
      type: z.enum(["accounts", "statuses", "hashtags"]).optional(),
      limit: limitOf(20, 40),
      account_id: z.string().optional().meta({ description: "Accepted and ignored (it filters statuses)" }),
      exclude_unreviewed: booleanLike.optional().meta({ description: "Accepted and ignored (it filters hashtags)" }),
    }),
    responses: { 200: { description: "Results", schema: SearchResultsEntity }, ...errors },
    async handle({ deps, account, query }) {
      const found = query.type === undefined || query.type === "accounts" ? await findPeople(deps, account, query) : [];
      return { accounts: found.map((row) => renderAccount(row, deps.config.publicUrl)), statuses: [], hashtags: [] };
    },
  }),
];
