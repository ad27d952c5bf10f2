/**
 * Which folders of src/ (and workers/) import each other: `npm run deps:folders`.
 * Prints every pair of folders that depend on each other in both directions (type-only imports
 * included, since they couple the code as much for a reader), then the count. `--max N` exits 1
 * when there are more than N pairs, so CI can hold the line once a figure is reached.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const IMPORT = /(?:^|[\n;])\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']/g;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return filesUnder(full);
    return full.endsWith(".ts") ? [full] : [];
  });
}

/** src/chats/x.ts → "chats"; src/server.ts → "(root)"; workers/x.ts → "workers". */
function folderOf(file: string): string | undefined {
  const relative = path.relative(root, file).split(path.sep);
  if (relative[0] === "workers") return "workers";
  if (relative[0] !== "src") return undefined;
  return relative.length > 2 ? relative[1] : "(root)";
}

export function folderEdges(): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const file of [...filesUnder(path.join(root, "src")), ...filesUnder(path.join(root, "workers"))]) {
    const from = folderOf(file)!;
    for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const to = folderOf(path.resolve(path.dirname(file), match[1]));
      if (!to || to === from) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
    }
  }
  return edges;
}

export function mutualPairs(edges = folderEdges()): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [from, tos] of edges) {
    for (const to of tos) if (from < to && edges.get(to)?.has(from)) pairs.push([from, to]);
  }
  return pairs.sort((a, b) => a.join().localeCompare(b.join()));
}

if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  const pairs = mutualPairs();
  for (const [a, b] of pairs) console.log(`${a} <-> ${b}`);
  console.log(`${pairs.length} pairs of folders import each other`);
  const max = process.argv.indexOf("--max");
  if (max > 0 && pairs.length > Number(process.argv[max + 1])) process.exit(1);
}
