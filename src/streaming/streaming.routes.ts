import { z } from "zod";
import { ApiError } from "../http/errors.js";
import { defineRoute } from "../http/route.js";

/**
 * The plain-HTTP side of the streaming API. The WebSocket itself is served by the upgrade handler
 * of src/streaming/streaming.ts; a GET without `Upgrade: websocket` reaches the route below.
 */

const tags = ["streaming"];

export const streamingRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/streaming/health",
    summary: "Streaming health check: `OK`",
    tags,
    auth: "none",
    responses: { 200: { description: "`OK` (text/plain)" } },
    async handle({ res }) {
      res.type("text/plain").send("OK");
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/streaming",
    summary:
      "WebSocket (Mastodon streaming API): token by `Authorization: Bearer`, `Sec-WebSocket-Protocol` or `?access_token=`; " +
      "`?stream=user|user:pleroma_chat|user:notification` or `{\"type\":\"subscribe\",\"stream\":…}` messages; " +
      "events `pleroma:chat_update` (Chat as a JSON string) on `user` and `user:pleroma_chat`, `notification` on `user` and `user:notification`",
    tags,
    auth: "none",
    query: z.object({ stream: z.string().optional(), access_token: z.string().optional() }),
    responses: {
      101: { description: "Switching protocols (a WebSocket upgrade request)" },
      401: { description: "Missing or bad token: answered to the upgrade request, no socket" },
      426: { description: "Not a WebSocket upgrade request" },
    },
    async handle() {
      throw new ApiError(426, "upgrade_required", {}, { Upgrade: "websocket" });
    },
  }),
];
