import { createRequire } from "node:module";
import type * as Htmlparser2 from "htmlparser2";

/**
 * htmlparser2's streaming parser (the one sanitize-html uses), loaded with require() as
 * sanitize-html loads it: an ES import of it beside sanitize-html's require() is a module cycle
 * to Jest's ESM loader (ERR_REQUIRE_CYCLE_MODULE), while both resolve to the same package.
 */
export const { Parser } = createRequire(import.meta.url)("htmlparser2") as typeof Htmlparser2;
