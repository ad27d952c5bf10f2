import { mkdirSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import path from "node:path";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import multer from "multer";
import type { Deps } from "../shared/deps.js";
import { DomainError, invalidInput } from "../shared/errors.js";
import { detectMediaType, type MediaType } from "./types.js";

/**
 * Files on disk: uploads stream to `DATA_DIR/media/tmp/<random>` (multer's disk storage, capped
 * at MEDIA_MAX_BYTES: nothing is held in memory), are typed by their content, then renamed to
 * `DATA_DIR/media/<id>.<ext>` (`emoji/<id>.<ext>` for custom emoji) — never a name the client chose.
 */

/** Room for the multipart framing and the text fields around a file of MEDIA_MAX_BYTES. */
const MULTIPART_OVERHEAD = 256 * 1024;

export const EMOJI_DIR = "emoji";

export function mediaRoot(dataDir: string): string {
  return path.resolve(dataDir, "media");
}

export const payloadTooLarge = () => new DomainError("too_large", "payload_too_large");

/**
 * Multipart parsing with one file in `field`, written to a temporary file; its other fields land in
 * `req.body`. A body announced (Content-Length) or found larger than MEDIA_MAX_BYTES is a 413;
 * the temporary file goes when the response is done, whatever happened.
 */
export function fileUpload(deps: Deps, field = "file"): RequestHandler[] {
  const maxBytes = deps.config.mediaMaxBytes;
  const tmp = path.join(mediaRoot(deps.config.dataDir), "tmp");
  mkdirSync(tmp, { recursive: true });
  const upload = multer({
    storage: multer.diskStorage({ destination: tmp }),
    limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 16 * 1024, parts: 11 },
  }).single(field);

  const announced: RequestHandler = (req, _res, next) => {
    const length = Number(req.get("content-length"));
    next(Number.isFinite(length) && length > maxBytes + MULTIPART_OVERHEAD ? payloadTooLarge() : undefined);
  };
  const parse = (req: Request, res: Response, next: NextFunction) => {
    upload(req, res, (error?: unknown) => {
      const file = req.file;
      if (file) res.once("close", () => void rm(file.path, { force: true }));
      if (!error) return next();
      if (error instanceof multer.MulterError) {
        if (error.code === "LIMIT_FILE_SIZE") return next(payloadTooLarge());
        return next(invalidInput(error.field ?? "body", error.message));
      }
      next(error);
    });
  };
  return [announced, parse];
}

/** The uploaded file, typed by its content; 400 without one, 422 when its type is not accepted. */
export async function checkedUpload(
  req: Request,
  accept: (type: MediaType) => boolean = () => true,
): Promise<{ file: Express.Multer.File; type: MediaType }> {
  const file = req.file;
  if (!file) throw invalidInput("file", "a file is required (multipart/form-data)");
  const type = await detectMediaType(file.path);
  if (!type || !accept(type)) {
    await discardUpload(req);
    throw new DomainError("unprocessable", "unsupported_media_type");
  }
  return { file, type };
}

/** Removes the temporary file of a refused upload now (it would go when the response is done anyway). */
export async function discardUpload(req: Request): Promise<void> {
  if (req.file) await rm(req.file.path, { force: true });
}

/** Moves a checked upload to its final name; returns that name relative to DATA_DIR/media. */
export async function keepUpload(dataDir: string, file: Express.Multer.File, name: string): Promise<string> {
  const root = mediaRoot(dataDir);
  const target = path.join(root, name);
  mkdirSync(path.dirname(target), { recursive: true });
  await rename(file.path, target);
  return name;
}

/** Removes a stored file (relative to DATA_DIR/media); a missing one is no error. */
export async function removeStored(dataDir: string, relative: string): Promise<void> {
  await rm(path.join(mediaRoot(dataDir), relative), { force: true });
}
