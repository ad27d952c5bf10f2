import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { folderEdges, mutualPairs } from "../../scripts/folder-deps.js";

/**
 * Folders of src/ that import each other (`npm run deps:folders`). The figure only goes down:
 * lower MAX_MUTUAL_PAIRS when a pair goes, never raise it to let a new one in.
 */
const MAX_MUTUAL_PAIRS = 9; // federation <-> mls: MLS objects arrive through the inbox and leave through the delivery pipeline

/** The domain folders: src/http holds the HTTP helpers they use, and imports none of them. */
const DOMAINS = ["accounts", "chats", "federation", "media", "notifications", "streaming", "instance", "ops", "link-cards"];

it(`has at most ${MAX_MUTUAL_PAIRS} pairs of folders that import each other`, () => {
  const pairs = mutualPairs().map(([a, b]) => `${a} <-> ${b}`);
  expect(pairs.length).toBeLessThanOrEqual(MAX_MUTUAL_PAIRS);
});

it("keeps src/http a leaf: no mutual pair, no import of a domain folder", () => {
  expect(mutualPairs().filter((pair) => pair.includes("http"))).toEqual([]);
  expect([...(folderEdges().get("http") ?? [])].filter((to) => DOMAINS.includes(to))).toEqual([]);
});

it("leaves ApiError to routes: services throw DomainError (src/shared/errors.ts)", () => {
  const src = join(import.meta.dirname, "../../src");
  const importers = readdirSync(src, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".ts") && !name.startsWith("http/") && !name.endsWith(".routes.ts"))
    .filter((name) => /from "(\.\.\/)+http\/errors\.js"/.test(readFileSync(join(src, name), "utf8")));
  expect(importers).toEqual([]);
});
