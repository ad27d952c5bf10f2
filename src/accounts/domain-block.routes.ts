import { desc, eq } from "drizzle-orm";
import { z } from "zod";
import { pgErrorCode } from "../db/database.js";
import { domainBlocks } from "../db/schema/index.js";
import { errors } from "../http/entities.js";
import { ApiError, notFound } from "../http/errors.js";
import { apiId } from "../http/ids.js";
import { defineRoute } from "../http/route.js";
import { isId, newId } from "../shared/ids.js";

/**
 * Mastodon's admin domain blocks. Enforcement (inbox 403, no deliveries) belongs to federation
 * between servers (issue 3); the list is kept here.
 */

const tags = ["admin"];
const DomainBlockEntity = z
  .object({ id: z.string(), domain: z.string(), created_at: z.string(), severity: z.string() })
  .meta({ id: "DomainBlock" });
/** A host name, optionally with a port, as it appears in remote `acct`s. */
const HOST = /^(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:\d{1,5})?$/;

const render = (row: typeof domainBlocks.$inferSelect) => ({
  id: row.id,
  domain: row.domain,
  created_at: row.createdAt.toISOString(),
  severity: row.severity,
  reject_media: true,
  reject_reports: true,
  private_comment: null,
  public_comment: null,
  obfuscate: false,
});

export const domainBlockRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/admin/domain_blocks",
    summary: "Blocked domains",
    tags,
    auth: "admin",
    responses: { 200: { description: "Domain blocks", schema: z.array(DomainBlockEntity) }, 401: errors[401] },
    handle: async ({ deps }) => (await deps.db.select().from(domainBlocks).orderBy(desc(domainBlocks.id))).map(render),
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/admin/domain_blocks",
    summary: "Block a domain: its activities are refused and nothing is sent to it",
    tags,
    auth: "admin",
    body: z.object({
      domain: z
        .string()
        .transform((d) => d.trim().toLowerCase())
        .refine((d) => HOST.test(d), "must be a host name, optionally with a port"),
      severity: z.enum(["suspend"]).default("suspend"),
    }),
    responses: { 200: { description: "The block", schema: DomainBlockEntity }, ...errors },
    async handle({ deps, body }) {
      try {
        const [row] = await deps.db.insert(domainBlocks).values({ id: newId(), domain: body.domain, severity: body.severity }).returning();
        return render(row);
      } catch (error) {
        if (pgErrorCode(error) === "23505") throw new ApiError(422, "domain_already_blocked", { field: "domain" });
        throw error;
      }
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/admin/domain_blocks/:id",
    summary: "A domain block",
    tags,
    auth: "admin",
    params: z.object({ id: apiId }),
    responses: { 200: { description: "The block", schema: DomainBlockEntity }, ...errors },
    async handle({ deps, params }) {
      const [row] = isId(params.id) ? await deps.db.select().from(domainBlocks).where(eq(domainBlocks.id, params.id)) : [];
      if (!row) throw notFound();
      return render(row);
    },
  }),
  defineRoute({
    method: "delete",
    path: "/api/v1/admin/domain_blocks/:id",
    summary: "Lift a domain block",
    tags,
    auth: "admin",
    params: z.object({ id: apiId }),
    responses: { 200: { description: "Lifted", schema: z.object({}) }, ...errors },
    async handle({ deps, params }) {
      const rows = isId(params.id)
        ? await deps.db.delete(domainBlocks).where(eq(domainBlocks.id, params.id)).returning({ id: domainBlocks.id })
        : [];
      if (rows.length === 0) throw notFound();
      return {};
    },
  }),
];
