import { z } from "zod";
import { blocks, mutes } from "../db/schema/index.js";
import { AccountEntity, errors, RelationshipEntity } from "../http/entities.js";
import { invalidField } from "../http/errors.js";
import { apiId } from "../http/ids.js";
import { pageOf, pageQuery, setLinkHeader } from "../http/pagination.js";
import { booleanLike, defineRoute } from "../http/route.js";
import { renderAccount } from "./account.view.js";
import { listRelated, relationshipsOf } from "./relationship.view.js";

const tags = ["accounts"];

/** Enough for any screen (Soapbox asks 20 at a time); a bound on one statement's work. */
export const MAX_RELATIONSHIP_IDS = 100;

/** `name[]=a&name[]=b`, `name=a` (the query parser keeps the brackets in the key). */
const idList = z.preprocess((value) => (value === undefined ? undefined : [value].flat()), z.array(apiId).optional());

const relatedList = (path: "blocks" | "mutes") =>
  defineRoute({
    method: "get",
    path: `/api/v1/${path}`,
    summary: `Accounts you ${path === "blocks" ? "block" : "mute"}, most recent first (Link pagination)`,
    tags,
    auth: "user",
    query: pageQuery,
    responses: { 200: { description: "Accounts, with a Link header", schema: z.array(AccountEntity) }, ...errors },
    async handle({ deps, account, query, req, res }) {
      const page = await listRelated(deps.db, path === "blocks" ? blocks : mutes, account.id, pageOf(query));
      const rendered = page.accounts.map((row) => renderAccount(row, deps.config.publicUrl));
      setLinkHeader(req, res, deps.config.publicUrl, rendered, page.cursors);
      return rendered;
    },
  });

export const relationshipRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/accounts/relationships",
    summary: "Your relationships to accounts (`id[]=` repeated, or `id=`), in the order asked; unknown ids are skipped",
    tags,
    auth: "user",
    query: z.object({
      "id[]": idList,
      id: idList,
      with_suspended: booleanLike.default(false).meta({ description: "Include remote accounts gone from their server" }),
    }),
    responses: { 200: { description: "Relationships", schema: z.array(RelationshipEntity) }, ...errors },
    async handle({ deps, account, query }) {
      // No id at all answers [] (Soapbox asks with an empty list when there are no chats yet).
      const ids = [...(query["id[]"] ?? []), ...(query.id ?? [])];
      if (new Set(ids).size > MAX_RELATIONSHIP_IDS) throw invalidField("id[]", `at most ${MAX_RELATIONSHIP_IDS} ids`);
      return relationshipsOf(deps.db, account.id, ids, { withSuspended: query.with_suspended });
    },
  }),
  relatedList("blocks"),
  relatedList("mutes"),
];
