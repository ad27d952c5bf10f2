import { type NextFunction, type Request, type Response, Router } from "express";
import { z } from "zod";
import type { AccountRow } from "../accounts/account.view.js";
import { outboxOwner } from "../federation/outbox.routes.js";
import { invalidField, notFound } from "../http/errors.js";
import type { Deps } from "../shared/deps.js";
import { MLS_JSON_CONTEXT } from "./key-packages.service.js";
import { hasEntryBefore, MAILBOX_DEFAULT_LIMIT, MAILBOX_MAX_LIMIT, mailboxEntries, mailboxSeqOf, mailboxSize } from "./mailbox.view.js";

/**
 * `GET /users/:username/mls-messages`: the actor's MLS `messages` collection, for its owner only
 * (bearer token; another account's or the admin token → 403). Newest first by the owner's seq;
 * the items are the Create activities as sent or received. Cursors (both exclusive):
 *  - `?page=true` (the collection's `first`) and `?max_seq=N`: the newest entries below N, newest first;
 *  - `?min_seq=N`: the oldest entries above N, oldest first, the order a client applies them in
 *    (`last` is `?min_seq=0`);
 *  - on every page `next` goes to older entries (only when there are some) and `prev` to newer
 *    ones; `prev` is always there, so that a client reading forward polls it for what comes next;
 *  - `?item=<object or activity id>` (seekItem) answers 307 to the `?min_seq=` page that starts
 *    at that entry, or 404 when the owner holds no such entry;
 *  - `limit`: 20 by default, clamped to 100, kept in the links when given.
 */

type Json = Record<string, unknown>;

const seq = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const query = z.object({
  item: z.string().min(1).max(2048).optional(),
  page: z.string().optional(),
  max_seq: seq.optional(),
  min_seq: seq.optional(),
  limit: z.coerce.number().int().min(1).optional(),
});
type Query = z.infer<typeof query>;

function parseQuery(input: unknown): Query {
  const result = query.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw invalidField(issue.path.join(".") || "query", issue.message);
  }
  return result.data;
}

const collectionUri = (owner: AccountRow) => `${owner.uri}/mls-messages`;

function activityJson(res: Response, status: number, body: Json) {
  // The owner's mailbox: never kept by a shared cache.
  res.status(status).set("Cache-Control", "private, no-store").type("application/activity+json").send(JSON.stringify(body));
}

export function messagesCollectionRouter(deps: Deps): Router {
  const router = Router();
  router.get("/users/:username/mls-messages", async (req: Request, res: Response, next: NextFunction) => {
    try {
      const owner = await outboxOwner(deps, req);
      const q = parseQuery(req.query);
      const base = collectionUri(owner);
      const pageUrl = (cursor: { max_seq?: number; min_seq?: number; page?: true }) => {
        const params = new URLSearchParams();
        for (const [key, value] of Object.entries(cursor)) params.set(key, String(value));
        if (q.limit !== undefined) params.set("limit", String(q.limit));
        return `${base}?${params}`;
      };

      if (q.item !== undefined) {
        const found = await mailboxSeqOf(deps.db, owner.id, q.item);
        if (found === undefined) throw notFound();
        res
          .status(307)
          .set({ Location: pageUrl({ min_seq: found - 1 }), "Cache-Control": "private, no-store" })
          .end();
        return;
      }
      if (q.page === undefined && q.max_seq === undefined && q.min_seq === undefined && q.limit === undefined) {
        activityJson(res, 200, {
          "@context": MLS_JSON_CONTEXT,
          id: base,
          type: "OrderedCollection",
          attributedTo: owner.uri,
          totalItems: await mailboxSize(deps.db, owner.id),
          first: pageUrl({ page: true }),
          last: pageUrl({ min_seq: 0 }),
        });
        return;
      }
      activityJson(res, 200, await collectionPage(deps, owner, q, pageUrl));
    } catch (error) {
      next(error);
    }
  });
  return router;
}

async function collectionPage(
  deps: Deps,
  owner: AccountRow,
  q: Query,
  pageUrl: (cursor: { max_seq?: number; min_seq?: number; page?: true }) => string,
): Promise<Json> {
  const limit = Math.min(q.limit ?? MAILBOX_DEFAULT_LIMIT, MAILBOX_MAX_LIMIT);
  const forward = q.min_seq !== undefined;
  const self =
    q.min_seq !== undefined
      ? pageUrl({ min_seq: q.min_seq, ...(q.max_seq !== undefined ? { max_seq: q.max_seq } : {}) })
      : q.max_seq !== undefined
        ? pageUrl({ max_seq: q.max_seq })
        : pageUrl({ page: true });
  // One entry more than shown tells whether an older page follows a newest-first one.
  const rows = await mailboxEntries(deps.db, owner.id, {
    afterSeq: q.min_seq,
    beforeSeq: q.max_seq,
    limit: forward ? limit : limit + 1,
    order: forward ? "asc" : "desc",
  });
  const shown = rows.slice(0, limit);
  const seqs = shown.map((row) => row.seq);
  const newest = seqs.length ? Math.max(...seqs) : undefined;
  const oldest = seqs.length ? Math.min(...seqs) : undefined;

  let next: string | undefined;
  if (forward) {
    const below = oldest ?? (q.min_seq as number) + 1;
    if (await hasEntryBefore(deps.db, owner.id, below)) next = pageUrl({ max_seq: below });
  } else if (rows.length > limit && oldest !== undefined) {
    next = pageUrl({ max_seq: oldest });
  }
  const prev = pageUrl({ min_seq: newest ?? (forward ? (q.min_seq as number) : Math.max(0, (q.max_seq ?? 1) - 1)) });
  return {
    "@context": MLS_JSON_CONTEXT,
    id: self,
    type: "OrderedCollectionPage",
    partOf: collectionUri(owner),
    orderedItems: shown.map((row) => row.activity),
    ...(next ? { next } : {}),
    prev,
  };
}
