import { z } from "zod";
import { EmojiEntity, ErrorEntity, errors } from "../http/entities.js";
import { notFound } from "../http/errors.js";
import { defineRoute } from "../http/route.js";
import { createLocalEmoji, deleteLocalEmoji, listLocalEmojis } from "./emoji.service.js";
import { fileUpload } from "./storage.js";

const CustomEmojiEntity = EmojiEntity.extend({ category: z.string().nullable() });

export const emojiRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/custom_emojis",
    summary: "The server's custom emoji (Mastodon shape)",
    tags: ["instance"],
    auth: "none",
    responses: { 200: { description: "Custom emoji, by shortcode", schema: z.array(CustomEmojiEntity) } },
    handle: ({ deps }) => listLocalEmojis(deps.db),
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/admin/custom_emojis",
    summary: "Add a custom emoji (multipart `shortcode` [A-Za-z0-9_]{2,64}, `file` an image, `category`?)",
    tags: ["admin"],
    auth: "admin",
    before: (deps) => fileUpload(deps, "file"),
    body: z.object({
      shortcode: z.string().nullish(),
      file: z.unknown().optional().meta({ description: "The image (multipart), by its content" }),
      category: z.string().max(64).nullish(),
    }),
    responses: {
      201: { description: "The emoji", schema: CustomEmojiEntity },
      400: errors[400],
      401: errors[401],
      409: { description: "shortcode_taken", schema: ErrorEntity },
      413: { description: "payload_too_large: over MEDIA_MAX_BYTES", schema: ErrorEntity },
      422: { description: "invalid_shortcode, or unsupported_media_type (not an image by its content)", schema: ErrorEntity },
    },
    async handle({ deps, req, res, body }) {
      const emoji = await createLocalEmoji(deps, req, body);
      res.status(201);
      return emoji;
    },
  }),
  defineRoute({
    method: "delete",
    path: "/api/v1/admin/custom_emojis/:shortcode",
    summary: "Remove a custom emoji and its file",
    tags: ["admin"],
    auth: "admin",
    params: z.object({ shortcode: z.string() }),
    responses: { 200: { description: "The removed emoji", schema: CustomEmojiEntity }, ...errors },
    async handle({ deps, params }) {
      const removed = await deleteLocalEmoji(deps, params.shortcode);
      if (!removed) throw notFound();
      return removed;
    },
  }),
];
