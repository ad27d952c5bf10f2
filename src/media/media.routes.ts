import multer from "multer";
import { z } from "zod";
import { AttachmentEntity, ErrorEntity, errors } from "../http/entities.js";
import { notFound } from "../http/errors.js";
import { apiId } from "../http/ids.js";
import { defineRoute } from "../http/route.js";
import { createMedia, updateMediaDescription } from "./media.service.js";
import { findOwnMedia, renderAttachment } from "./media.view.js";
import { uploadQuotaGate } from "./quota.js";
import { fileUpload } from "./storage.js";
import { DESCRIPTION_LIMIT } from "./types.js";

const tags = ["media"];
const description = z.string().max(DESCRIPTION_LIMIT).nullish();
/** Mastodon's `focus` ("x,y") is accepted and ignored: no thumbnails are cropped. */
const uploadBody = z.object({
  file: z.unknown().optional().meta({ description: "The file (multipart): an image, video or audio file, by its content" }),
  description,
  focus: z.string().max(64).nullish(),
});
const uploadResponses = {
  400: errors[400],
  401: errors[401],
  413: {
    description: "payload_too_large: over MEDIA_MAX_BYTES; upload_quota_exceeded: larger than the whole MEDIA_UPLOAD_QUOTA",
    schema: ErrorEntity,
  },
  422: { description: "unsupported_media_type: the content is not an accepted image, video or audio file", schema: ErrorEntity },
  429: {
    description: "upload_quota_exceeded: MEDIA_UPLOAD_QUOTA spent for now (Retry-After: when this file would fit)",
    schema: ErrorEntity,
  },
};

const upload = (version: "v1" | "v2") =>
  defineRoute({
    method: "post",
    path: `/api/${version}/media`,
    summary:
      version === "v1"
        ? "Upload a file (multipart `file`, `description`): typed by its content, capped at MEDIA_MAX_BYTES"
        : "Upload a file; answers 200 with the attachment ready (nothing is processed afterwards, so never 202)",
    tags,
    auth: "user",
    // The quota before the body: a spent quota costs no disk write.
    before: (deps) => [uploadQuotaGate(deps), ...fileUpload(deps, "file")],
    body: uploadBody,
    responses: { 200: { description: "MediaAttachment", schema: AttachmentEntity }, ...uploadResponses },
    async handle({ deps, account, req, body }) {
      const row = await createMedia(deps, account, req, body.description ?? null);
      return renderAttachment(row, deps.config.publicUrl);
    },
  });

const mediaParams = z.object({ id: apiId });
/** A description may come as a multipart form too (no file there). */
const formFields = multer({ limits: { fields: 10, fieldSize: 16 * 1024, files: 0 } }).none();

export const mediaRoutes = [
  upload("v1"),
  upload("v2"),
  defineRoute({
    method: "get",
    path: "/api/v1/media/:id",
    summary: "One of your uploads",
    tags,
    auth: "user",
    params: mediaParams,
    responses: { 200: { description: "MediaAttachment", schema: AttachmentEntity }, ...errors },
    async handle({ deps, account, params }) {
      const row = await findOwnMedia(deps.db, account.id, params.id);
      if (!row) throw notFound();
      return renderAttachment(row, deps.config.publicUrl);
    },
  }),
  defineRoute({
    method: "put",
    path: "/api/v1/media/:id",
    summary: "Change the description of one of your uploads",
    tags,
    auth: "user",
    before: [formFields],
    params: mediaParams,
    body: z.object({ description, focus: z.string().max(64).nullish() }),
    responses: { 200: { description: "MediaAttachment", schema: AttachmentEntity }, ...errors },
    async handle({ deps, account, params, body }) {
      const row = await findOwnMedia(deps.db, account.id, params.id);
      if (!row) throw notFound();
      const updated = body.description === undefined ? row : await updateMediaDescription(deps, row, body.description);
      return renderAttachment(updated, deps.config.publicUrl);
    },
  }),
];
