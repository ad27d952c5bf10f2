import path from "node:path";
import { type Request, type Response, Router } from "express";
import type { Deps } from "../shared/deps.js";
import { EMOJI_DIR, mediaRoot } from "./storage.js";
import { typeOfExtension } from "./types.js";

/**
 * `GET /media/<id>.<ext>` and `/media/emoji/<id>.<ext>`: the stored files, public (remote servers
 * and clients load them without a token; the names are unguessable ids). Only names Parley gives
 * match — nothing else on disk can be reached, `..` included. Each is served with the type found in
 * its content at upload (its extension says which), never sniffed (`nosniff`), in a sandbox with
 * no scripts (CSP), and as a download (`Content-Disposition: attachment`) unless it is an image.
 */

const FILE_NAME = /^([0-9a-z]{26})\.([0-9a-z]{2,5})$/;
/** Files never change: a new upload is a new name. */
const MAX_AGE_MS = 365 * 24 * 3600 * 1000;
export const MEDIA_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox";

function notFound(res: Response) {
  res.status(404).json({ error: "not_found" });
}

export function mediaFilesRouter(deps: Deps): Router {
  const router = Router();
  const root = mediaRoot(deps.config.dataDir);

  const serve = (directory: string) => (req: Request, res: Response) => {
    const match = FILE_NAME.exec(String(req.params.file));
    const type = match && typeOfExtension(match[2]);
    if (!match || !type) return notFound(res);
    // Set only once the file is found (send's `headers` event): a 404 goes out as plain JSON.
    const headers = {
      "Content-Type": type.mime,
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": MEDIA_CSP,
      "Content-Disposition": type.kind === "image" ? "inline" : `attachment; filename="${match[0]}"`,
      "Access-Control-Allow-Origin": "*",
      "Cross-Origin-Resource-Policy": "cross-origin",
    };
    const options = { root: path.join(root, directory), dotfiles: "deny" as const, maxAge: MAX_AGE_MS, immutable: true, headers };
    res.sendFile(match[0], options, (error) => {
      if (error && !res.headersSent) notFound(res);
    });
  };
  router.get(`/media/${EMOJI_DIR}/:file`, serve(EMOJI_DIR));
  router.get("/media/:file", serve("."));
  return router;
}
