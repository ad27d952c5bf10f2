import { count, isNull } from "drizzle-orm";
import { z } from "zod";
import { accounts } from "../db/schema/index.js";
import { defineRoute } from "../http/route.js";
import type { Deps } from "../shared/deps.js";
import { type InstanceCounts, instanceV1, instanceV2, nodeInfo } from "./instance.view.js";

const tags = ["instance"];

async function counts(deps: Deps): Promise<InstanceCounts> {
  const [row] = await deps.db.select({ n: count() }).from(accounts).where(isNull(accounts.domain));
  return { users: row.n };
}

const nodeInfoSchema = z
  .object({
    version: z.string(),
    software: z.object({ name: z.literal("parley"), version: z.string() }),
    metadata: z.object({ nodeName: z.string(), features: z.array(z.string()), chat_limit: z.number() }).passthrough(),
  })
  .passthrough();

/** `/nodeinfo/2.x` (what discovery links to) and `/nodeinfo/2.x.json` (Pleroma's spelling, which Pleroma-FE fetches). */
const nodeInfoRoute = (version: "2.0" | "2.1", path: string) =>
  defineRoute({
    method: "get",
    path,
    summary: `NodeInfo ${version}, with Pleroma's metadata (features, upload and field limits)`,
    tags,
    auth: "none",
    responses: { 200: { description: "NodeInfo", schema: nodeInfoSchema } },
    async handle({ deps, res }) {
      res.type(`application/json; profile="http://nodeinfo.diaspora.software/ns/schema/${version}#"`);
      res.send(JSON.stringify(nodeInfo(version, deps.config, await counts(deps))));
    },
  });

const pleromaSchema = z
  .object({
    metadata: z.object({ features: z.array(z.string()), chat_limit: z.number() }).passthrough(),
  })
  .passthrough();
const configurationSchema = z
  .object({
    chats: z.object({ max_characters: z.number(), max_media_attachments: z.number() }),
  })
  .passthrough();

const instanceV1Schema = z
  .object({
    uri: z.string(),
    version: z.string().describe("`2.7.2 (compatible; Pleroma <version>+parley.<version>)`: read as Pleroma by clients"),
    urls: z.object({ streaming_api: z.string() }),
    stats: z.object({ user_count: z.number(), status_count: z.number(), domain_count: z.number() }),
    max_toot_chars: z.number(),
    poll_limits: z.object({
      max_options: z.number(),
      max_option_chars: z.number(),
      min_expiration: z.number(),
      max_expiration: z.number(),
    }),
    upload_limit: z.number(),
    chat_limit: z.number(),
    configuration: configurationSchema,
    pleroma: pleromaSchema,
  })
  .passthrough();

const instanceV2Schema = z
  .object({
    domain: z.string(),
    version: z.string(),
    configuration: configurationSchema,
    pleroma: pleromaSchema,
  })
  .passthrough();

export const instanceRoutes = [
  defineRoute({
    method: "get",
    path: "/.well-known/nodeinfo",
    summary: "NodeInfo discovery",
    tags,
    auth: "none",
    responses: { 200: { description: "Links to NodeInfo 2.0 and 2.1" } },
    handle: async ({ deps }) => ({
      links: (["2.0", "2.1"] as const).map((v) => ({
        rel: `http://nodeinfo.diaspora.software/ns/schema/${v}`,
        href: `${deps.config.publicUrl}/nodeinfo/${v}`,
      })),
    }),
  }),
  nodeInfoRoute("2.0", "/nodeinfo/2.0"),
  nodeInfoRoute("2.1", "/nodeinfo/2.1"),
  nodeInfoRoute("2.0", "/nodeinfo/2.0.json"),
  nodeInfoRoute("2.1", "/nodeinfo/2.1.json"),
  defineRoute({
    method: "get",
    path: "/api/v1/instance",
    summary:
      "Instance (Mastodon v1 shape) with Pleroma's extras: max_toot_chars, poll_limits, upload_limit, chat_limit, pleroma.metadata.features",
    tags,
    auth: "none",
    responses: { 200: { description: "Instance", schema: instanceV1Schema } },
    handle: async ({ deps }) => instanceV1(deps.config, await counts(deps)),
  }),
  defineRoute({
    method: "get",
    path: "/api/v2/instance",
    summary: "Instance (Mastodon v2 shape) with Pleroma's pleroma.metadata (features, chat_limit, upload limits)",
    tags,
    auth: "none",
    responses: { 200: { description: "Instance", schema: instanceV2Schema } },
    handle: async ({ deps }) => instanceV2(deps.config, await counts(deps)),
  }),
];
