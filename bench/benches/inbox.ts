/**
 * inbox: signed Create{ChatMessage} from many remote actors (keys served by a loopback remote
 * server, fetched once then cached by Parley) to local accounts' inboxes: accepted/s, p50/p99.
 * Baseline, same run and same request mix: a bare node:http server in its own process that checks
 * Digest + RSA-2048 signature and answers 202. Requests are signed before the measurement.
 */
import { createPrivateKey } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pleromaChatMessage } from "../../test/helpers/inbox.js";
import { createAccount } from "../../test/helpers/parley.js";
import { type RemoteActor, signedPost, startRemoteServer } from "../../test/helpers/remote.js";
import { firstJsonLine, spawnTs } from "../lib/child.js";
import { type LoadResult, runLoad } from "../lib/load.js";
import { startParleyProcesses } from "../lib/parley-processes.js";
import { type PreparedRequest, signPost } from "../lib/sign.js";
import { round, summarize } from "../lib/stats.js";
import type { Bench, BenchResult } from "../types.js";

const ACTORS = Number(process.env.BENCH_INBOX_ACTORS ?? 50);
const LOCALS = 20;
const REQUESTS = Number(process.env.BENCH_INBOX_REQUESTS ?? 12_000);
/** In flight at once (an earlier load probe on the development machine used 64). */
const CONCURRENCY = Number(process.env.BENCH_INBOX_CONCURRENCY ?? 16);
const DURATION_MS = 10_000;
const PACED_MS = 6_000;

/** Pre-signs `count` distinct activities, round-robin over senders and recipients; `origin` is where they go. */
function prepare(origin: string, actors: RemoteActor[], recipients: string[], count: number): PreparedRequest[] {
  const keys = actors.map((actor) => createPrivateKey(actor.privateKeyPem));
  const out: PreparedRequest[] = [];
  for (let i = 0; i < count; i++) {
    const a = i % actors.length;
    const recipient = recipients[i % recipients.length];
    const activity = pleromaChatMessage(actors[a], `${origin}/users/${recipient}`, { content: `bench message ${i}` });
    out.push(signPost(`${origin}/users/${recipient}/inbox`, JSON.stringify(activity), actors[a].keyId, keys[a]));
  }
  return out;
}

const rate = (load: LoadResult) => ((load.byStatus["202"] ?? 0) * 1000) / load.elapsedMs;

export const bench: Bench = {
  name: "inbox",
  async run(ctx) {
    const remote = await startRemoteServer();
    const instance = await startParleyProcesses(ctx.queue);
    const keyDir = await mkdtemp(path.join(tmpdir(), "parley-bench-keys-"));
    try {
      const actors = Array.from({ length: ACTORS }, (_, i) => remote.actor(`sender${i}`));
      const recipients: string[] = [];
      for (let i = 0; i < LOCALS; i++) recipients.push((await createAccount(instance, `bench${i}`)).account.username);
      // Warm-up: every actor once (the server fetches and caches its key), not measured.
      const warmUp = async (origin: string) => {
        for (const [i, actor] of actors.entries()) {
          const recipient = recipients[i % recipients.length];
          const answer = await signedPost(
            `${origin}/users/${recipient}/inbox`,
            pleromaChatMessage(actor, `${origin}/users/${recipient}`),
            actor,
          );
          if (answer.status !== 202) throw new Error(`warm-up of ${origin}: ${answer.status} ${answer.body}`);
        }
      };
      await warmUp(instance.url);
      ctx.log(`inbox: signing ${REQUESTS} requests for parley and for the baseline`);
      const forParley = prepare(instance.url, actors, recipients, REQUESTS);
      await writeFile(path.join(keyDir, "keys.json"), JSON.stringify(Object.fromEntries(actors.map((a) => [a.keyId, a.publicKeyPem]))));
      const bareServer = spawnTs("./bare-inbox.ts", [path.join(keyDir, "keys.json")]);
      const fedifyServer = spawnTs("./fedify-inbox.ts");
      try {
        const bareOrigin = `http://127.0.0.1:${(await firstJsonLine<{ port: number }>(bareServer)).port}`;
        const forBare = prepare(bareOrigin, actors, recipients, REQUESTS);
        ctx.log("inbox: baseline (bare verifying server)");
        const baseline = await runLoad(bareOrigin, forBare, CONCURRENCY, DURATION_MS);
        ctx.log(`inbox: baseline ${JSON.stringify(baseline.byStatus)} in ${Math.round(baseline.elapsedMs)} ms`);
        bareServer.kill();

        const fedifyOrigin = `http://127.0.0.1:${(await firstJsonLine<{ port: number }>(fedifyServer)).port}`;
        await warmUp(fedifyOrigin);
        const forFedify = prepare(fedifyOrigin, actors, recipients, REQUESTS);
        ctx.log("inbox: Fedify alone (in-memory KV, no-op listener)");
        const fedifyAlone = await runLoad(fedifyOrigin, forFedify, CONCURRENCY, DURATION_MS);
        ctx.log(`inbox: Fedify alone ${JSON.stringify(fedifyAlone.byStatus)} in ${Math.round(fedifyAlone.elapsedMs)} ms`);
        fedifyServer.kill();
        ctx.log("inbox: parley");
        const fetchesBefore = remote.requests.filter((r) => r.method === "GET").length;
        const measured = await runLoad(instance.url, forParley, CONCURRENCY, DURATION_MS);
        ctx.log(`inbox: parley ${JSON.stringify(measured.byStatus)} in ${Math.round(measured.elapsedMs)} ms`);
        // Latency where the server keeps up: paced at half the rate it reached, fresh activities.
        const halfRate = Math.max(1, rate(measured) / 2);
        const pacedCount = Math.min(forParley.length - measured.sent, Math.ceil((halfRate * PACED_MS) / 1000));
        ctx.log(`inbox: parley paced at ${Math.round(halfRate)}/s, ${pacedCount} requests`);
        const paced = await runLoad(
          instance.url,
          forParley.slice(measured.sent, measured.sent + pacedCount),
          CONCURRENCY,
          PACED_MS + 5_000,
          halfRate,
        );
        const atHalf = summarize(paced.latenciesMs);

        const ours = summarize(measured.latenciesMs);
        const theirs = summarize(baseline.latenciesMs);
        const results: BenchResult[] = [
          {
            metric: "inbox accepted/s",
            value: round(rate(measured), 0),
            unit: "req/s",
            baseline: { name: "bare verifying node:http", value: round(rate(baseline), 0) },
            goal: ">= 0.25 x baseline",
          },
          {
            metric: "inbox accepted/s vs Fedify alone",
            value: round(rate(measured), 0),
            unit: "req/s",
            baseline: { name: "Fedify inbox, memory KV, no-op listener", value: round(rate(fedifyAlone), 0) },
          },
          {
            metric: `inbox p50 at saturation (${CONCURRENCY} in flight)`,
            value: round(ours.p50),
            unit: "ms",
            baseline: { name: "bare verifying node:http", value: round(theirs.p50) },
          },
          {
            metric: `inbox p99 at saturation (${CONCURRENCY} in flight)`,
            value: round(ours.p99),
            unit: "ms",
            baseline: { name: "bare verifying node:http", value: round(theirs.p99) },
          },
          { metric: `inbox p50 paced at half that rate (${Math.round(halfRate)}/s)`, value: round(atHalf.p50), unit: "ms" },
          {
            metric: `inbox p99 paced at half that rate (${Math.round(halfRate)}/s)`,
            value: round(atHalf.p99),
            unit: "ms",
            goal: "<= 50 ms",
          },
          {
            metric: "inbox p99 vs Fedify alone",
            value: round(ours.p99),
            unit: "ms",
            baseline: { name: "Fedify inbox, memory KV, no-op listener", value: round(summarize(fedifyAlone.latenciesMs).p99) },
          },
        ];
        const fetches = remote.requests.filter((r) => r.method === "GET").length - fetchesBefore;
        results.push({ metric: "inbox remote GETs during measurement (key fetches)", value: fetches, unit: "req" });
        const refused = measured.sent - (measured.byStatus["202"] ?? 0) + paced.sent - (paced.byStatus["202"] ?? 0);
        if (refused) results.push({ metric: "inbox non-202 answers", value: refused, unit: "req" });
        const rss = await instance.peakRssMb();
        results.push(
          { metric: "inbox peak RSS, web process", value: rss.web, unit: "MB", goal: "<= 300 MB" },
          { metric: "inbox peak RSS, worker process", value: rss.worker, unit: "MB", goal: "<= 300 MB" },
        );
        return results;
      } finally {
        bareServer.kill();
        fedifyServer.kill();
      }
    } finally {
      await instance.close();
      await remote.close();
      await rm(keyDir, { recursive: true, force: true });
    }
  },
};
