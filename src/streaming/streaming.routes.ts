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
      "WebSocket (Mastodon streaming API): token by `Authorization: Bearer`, `Sec-WebSocket-Protocol` or `?access_token=`, " +
      'or after connecting by `{"type":"pleroma:authenticate","token":…}` (within 10 s, else closed with 1008); ' +
      '`?stream=user|user:pleroma_chat|user:notification` or `{"type":"subscribe","stream":…}` messages, answered by `pleroma:respond`; ' +
      "on `user` and `user:pleroma_chat`: `pleroma:chat_update` (a new message; Chat as a JSON string), `delete` (a message's id) and " +
      "`chat_message.deleted`, and Parley's `parley:chat_update` and `parley:chat_message_update`; `notification` on `user` and `user:notification` " +
      "(docs/compatibility.md lists when each is sent)",
    tags,
    auth: "none",
    query: z.object({ stream: z.string().optional(), access_token: z.string().optional() }),
    responses: {
      101: { description: "Switching protocols (a WebSocket upgrade request)" },
      400: { description: "Unknown `stream`: answered to the upgrade request, no socket" },
      401: { description: "Bad token, or a `stream` without a token: answered to the upgrade request, no socket" },
      426: { description: "Not a WebSocket upgrade request" },
    },
    async handle() {
      throw new ApiError(426, "upgrade_required", {}, { Upgrade: "websocket" });
    },
  }),
];
