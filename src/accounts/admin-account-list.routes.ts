import { and, asc, gt, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { accounts } from "../db/schema/index.js";
import { AccountEntity, errors } from "../http/entities.js";
import { defineRoute } from "../http/route.js";
import { renderAccount } from "./account.view.js";

/**
 * The local accounts, for operators (the `parley accounts` commands find an account's id by its
 * name here). Ordered by id; a page ends where the next starts (`after` = the last id seen).
 */

const MAX_LIMIT = 500;

export const adminAccountListRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/admin/accounts",
    summary: "Local accounts (deleted ones left out), by id; `username` keeps only that name (either case)",
    tags: ["admin"],
    auth: "admin",
    query: z.object({
      username: z.string().min(1).max(1024).optional(),
      after: z.string().max(64).optional(),
      limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(100),
    }),
    responses: { 200: { description: "Accounts", schema: z.array(AccountEntity) }, ...errors },
    async handle({ deps, query }) {
      // A NUL is refused by PostgreSQL in a query; it names no account.
      if (query.username?.includes("\0")) return [];
      const rows = await deps.db
        .select()
        .from(accounts)
        .where(
          and(
            isNull(accounts.domain),
            isNull(accounts.deletedAt),
            query.username === undefined ? undefined : sql`lower(${accounts.username}) = ${query.username.toLowerCase()}`,
            query.after === undefined ? undefined : gt(accounts.id, query.after),
          ),
        )
        .orderBy(asc(accounts.id))
        .limit(query.limit);
      return rows.map((row) => renderAccount(row, deps.config.publicUrl));
    },
  }),
];
