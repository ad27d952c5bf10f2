import { count, isNull } from "drizzle-orm";
import { z } from "zod";
import { accounts } from "../db/schema/index.js";
import { litepubContext } from "../federation/federation.js";
import { defineRoute } from "../http/route.js";
import { DESCRIPTION_LIMIT, SUPPORTED_MIME_TYPES } from "../media/types.js";
import type { Deps } from "../shared/deps.js";

const tags = ["instance"];
const VERSION = "0.1.0";
/** Pleroma clients look for these to enable chats. */
const FEATURES = ["pleroma_chat_messages", "pleroma_api", "chat"];

/** Mastodon's `configuration.media_attachments`: what `POST /api/v1/media` takes (one cap for every kind). */
function mediaConfiguration(deps: Deps) {
  const limit = deps.config.mediaMaxBytes;
  return {
    supported_mime_types: SUPPORTED_MIME_TYPES,
    description_limit: DESCRIPTION_LIMIT,
    image_size_limit: limit,
    video_size_limit: limit,
  };
}

async function localUsers(deps: Deps): Promise<number> {
  const [row] = await deps.db.select({ n: count() }).from(accounts).where(isNull(accounts.domain));
  return row.n;
}

function nodeInfo(version: "2.0" | "2.1", users: number, deps: Deps) {
  return {
    version,
    software: { name: "parley", version: VERSION, ...(version === "2.1" ? { repository: undefined, homepage: undefined } : {}) },
    protocols: ["activitypub"],
    services: { inbound: [], outbound: [] },
    openRegistrations: false,
    usage: { users: { total: users }, localPosts: 0 },
    metadata: { nodeName: new URL(deps.config.publicUrl).host, features: FEATURES, chat_limit: deps.config.chatMessageLimit },
  };
}

const nodeInfoRoute = (version: "2.0" | "2.1") =>
  defineRoute({
    method: "get",
    path: `/nodeinfo/${version}`,
    summary: `NodeInfo ${version}`,
    tags,
    auth: "none",
    responses: { 200: { description: "NodeInfo" } },
    async handle({ deps, res }) {
      res.type(`application/json; profile="http://nodeinfo.diaspora.software/ns/schema/${version}#"`);
      res.send(JSON.stringify(nodeInfo(version, await localUsers(deps), deps)));
    },
  });

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
  nodeInfoRoute("2.0"),
  nodeInfoRoute("2.1"),
  defineRoute({
    method: "get",
    path: "/api/v1/instance",
    summary: "Instance (Mastodon v1 shape) with Pleroma's chat_limit",
    tags,
    auth: "none",
    responses: { 200: { description: "Instance", schema: z.object({ uri: z.string(), chat_limit: z.number() }) } },
    async handle({ deps }) {
      const host = new URL(deps.config.publicUrl).host;
      return {
        uri: host,
        title: "Parley",
        short_description: "Federated one-to-one chats",
        description: "Federated one-to-one chats, compatible with Pleroma Chats",
        email: "",
        version: `2.7.2 (compatible; Parley ${VERSION})`,
        urls: { streaming_api: deps.config.publicUrl.replace(/^http/, "ws") },
        stats: { user_count: await localUsers(deps), status_count: 0, domain_count: 0 },
        thumbnail: null,
        languages: ["en"],
        registrations: false,
        approval_required: false,
        invites_enabled: false,
        chat_limit: deps.config.chatMessageLimit,
        // Pleroma's upload cap, in bytes.
        upload_limit: deps.config.mediaMaxBytes,
        configuration: { chats: { max_characters: deps.config.chatMessageLimit }, media_attachments: mediaConfiguration(deps) },
        pleroma: { metadata: { features: FEATURES, chat_limit: deps.config.chatMessageLimit } },
      };
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v2/instance",
    summary: "Instance (Mastodon v2 shape) with pleroma.metadata.chat_limit",
    tags,
    auth: "none",
    responses: { 200: { description: "Instance" } },
    async handle({ deps }) {
      const host = new URL(deps.config.publicUrl).host;
      return {
        domain: host,
        title: "Parley",
        version: `2.7.2 (compatible; Parley ${VERSION})`,
        source_url: "",
        description: "Federated one-to-one chats, compatible with Pleroma Chats",
        usage: { users: { active_month: await localUsers(deps) } },
        thumbnail: { url: `${deps.config.publicUrl}/static/avatar-missing.png` },
        languages: ["en"],
        configuration: {
          urls: { streaming: deps.config.publicUrl.replace(/^http/, "ws") },
          chats: { max_characters: deps.config.chatMessageLimit },
          media_attachments: mediaConfiguration(deps),
        },
        registrations: { enabled: false, approval_required: false, message: null },
        contact: { email: "", account: null },
        rules: [],
        pleroma: { metadata: { features: FEATURES, chat_limit: deps.config.chatMessageLimit } },
      };
    },
  }),
  defineRoute({
    method: "get",
    path: "/schemas/litepub-0.1.jsonld",
    summary: "The litepub JSON-LD context our activities reference",
    tags: ["federation"],
    auth: "none",
    responses: { 200: { description: "JSON-LD context" } },
    handle: async ({ res }) => {
      res.type("application/ld+json");
      res.send(JSON.stringify(litepubContext));
    },
  }),
];
