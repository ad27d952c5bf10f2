/**
 * mls: a 100-member MLS group's fan-out. One local sender posts `Create{PrivateMessage}` to its C2S
 * outbox, each addressed to the group's 99 other members: 33 actors on each of 3 remote servers
 * (loopback sinks that serve their actor documents and verify every signature). Parley stores the
 * object once and sends one signed POST per server, to its shared inbox. The figure is Creates
 * delivered to all 3 servers per second (and objects × recipients per second), then the outbox
 * POST → last server's receipt p50/p99 at half that rate.
 *
 * The bytes are real: the group is built with ts-mls (the sender adds 99 KeyPackages whose
 * credentials name the remote actors) and every Create carries a fresh application message. The
 * Commit and the Welcome are posted first, unmeasured: that first post resolves the 99 actors over
 * HTTP, as with a real server. Run beside `delivery` (`npm run bench -- mls delivery`) to read the
 * figure against ChatMessage delivery on the same machine and backend.
 */
import { randomBytes } from "node:crypto";
import { MLS_JSON_CONTEXT } from "../../src/mls/key-packages.service.js";
import { MlsClient, type MlsObject } from "../../test/helpers/mls-client.js";
import { createAccount } from "../../test/helpers/parley.js";
import { type ActorInboxSink, startActorInboxSink } from "../lib/actor-inbox-sink.js";
import { type LoadResult, runLoad } from "../lib/load.js";
import { type ParleyProcesses, startParleyProcesses } from "../lib/parley-processes.js";
import type { PreparedRequest } from "../lib/sign.js";
import { round, summarize } from "../lib/stats.js";
import type { Bench, BenchResult } from "../types.js";

const SERVERS = 3;
const MEMBERS_PER_SERVER = 33;
const RECIPIENTS = SERVERS * MEMBERS_PER_SERVER;
const THROUGHPUT_MESSAGES = Number(process.env.BENCH_MLS_MESSAGES ?? 1_000);
const CONCURRENCY = Number(process.env.BENCH_MLS_CONCURRENCY ?? 16);
const THROUGHPUT_MS = 30_000;
const LATENCY_MS = 8_000;
const SENDER = "sender";

interface Group {
  client: MlsClient;
  commit: MlsObject;
  welcome: MlsObject;
  builtMs: number;
}

/** The sender's 100-member group (the sender and one device per remote actor), built once with ts-mls. */
async function buildGroup(senderUri: string, memberUris: string[]): Promise<Group> {
  const started = performance.now();
  const client = await MlsClient.create(senderUri);
  const members = await Promise.all(memberUris.map((uri) => MlsClient.create(uri)));
  await client.createGroup(`bench-${randomBytes(8).toString("hex")}`);
  const { commit, welcome } = await client.add(members.map((member) => member.keyPackageObject()));
  if (!welcome) throw new Error("ts-mls gave no Welcome");
  return { client, commit, welcome, builtMs: performance.now() - started };
}

const createOf = (object: MlsObject, actor: string, to: string[]) => ({
  "@context": MLS_JSON_CONTEXT,
  type: "Create",
  actor,
  to,
  object: { ...object, attributedTo: actor, to },
});

interface Outbox {
  url: string;
  token: string;
  actor: string;
  to: string[];
}

function outboxRequest(outbox: Outbox, object: MlsObject): PreparedRequest {
  return {
    path: `/users/${SENDER}/outbox`,
    headers: { authorization: `Bearer ${outbox.token}`, "content-type": "application/activity+json" },
    body: JSON.stringify(createOf(object, outbox.actor, outbox.to)),
  };
}

/** `count` fresh application messages (each a distinct PrivateMessage), generated before any clock runs. */
async function applicationMessages(group: Group, phase: string, count: number): Promise<{ objects: MlsObject[]; perMessageMs: number }> {
  const started = performance.now();
  const objects: MlsObject[] = [];
  for (let i = 0; i < count; i++) objects.push(await group.client.send(`bench-${phase}-${i}`));
  return { objects, perMessageMs: (performance.now() - started) / Math.max(1, count) };
}

async function postOnce(outbox: Outbox, object: MlsObject): Promise<void> {
  const request = outboxRequest(outbox, object);
  const response = await fetch(`${outbox.url}${request.path}`, { method: "POST", headers: request.headers, body: request.body });
  if (response.status !== 201) throw new Error(`outbox ${object.type}: ${response.status} ${await response.text()}`);
}

/**
 * For each object of a phase, when the last of the servers received it (-1: not every server
 * yet); receipts are read from each sink's `from` offset on.
 */
function fanOut(sinks: ActorInboxSink[], from: number[], objects: MlsObject[]) {
  const index = new Map(objects.map((object, i) => [object.content, i]));
  const seen = objects.map(() => ({ servers: 0, last: -1 }));
  let unverified = 0;
  let personal = 0;
  sinks.forEach((sink, s) => {
    for (const receipt of sink.receipts.slice(from[s])) {
      const i = receipt.content === undefined ? undefined : index.get(receipt.content);
      if (i === undefined) continue;
      if (!receipt.verified) unverified++;
      if (receipt.path !== "/inbox") personal++;
      seen[i].servers++;
      seen[i].last = Math.max(seen[i].last, receipt.receivedAt);
    }
  });
  const lastReceipt = seen.map((entry) => (entry.servers >= sinks.length ? entry.last : -1));
  return { lastReceipt, complete: lastReceipt.filter((at) => at >= 0).length, unverified, personal };
}

/** Posts the objects through the outbox (load generator) and waits for each accepted one to reach every server. */
async function measure(instance: ParleyProcesses, sinks: ActorInboxSink[], outbox: Outbox, objects: MlsObject[], ratePerSec?: number) {
  const from = sinks.map((sink) => sink.receipts.length);
  const requests = objects.map((object) => outboxRequest(outbox, object));
  const bound = ratePerSec ? LATENCY_MS + 5_000 : THROUGHPUT_MS;
  const load: LoadResult = await runLoad(instance.url, requests, CONCURRENCY, bound, ratePerSec);
  const accepted = load.byStatus["201"] ?? 0;
  const deadline = Date.now() + 60_000;
  let result = fanOut(sinks, from, objects);
  while (result.complete < accepted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    result = fanOut(sinks, from, objects);
  }
  return { load, accepted, ...result };
}

export const bench: Bench = {
  name: "mls",
  async run(ctx) {
    const sinks = await Promise.all(Array.from({ length: SERVERS }, () => startActorInboxSink()));
    const instance = await startParleyProcesses(ctx.queue);
    try {
      const { token } = await createAccount(instance, SENDER);
      const to = sinks.flatMap((sink, s) => Array.from({ length: MEMBERS_PER_SERVER }, (_, m) => sink.actorUri(`m${s}x${m}`)));
      const outbox: Outbox = { url: instance.url, token, actor: `${instance.url}/users/${SENDER}`, to };

      const group = await buildGroup(outbox.actor, to);
      ctx.log(`mls: ${RECIPIENTS + 1}-member group built in ${Math.round(group.builtMs)} ms (ts-mls)`);
      // Unmeasured: the Commit (resolves the 99 actors), the Welcome, a few messages (keys, connections).
      await postOnce(outbox, group.commit);
      group.client.accepted();
      await postOnce(outbox, group.welcome);
      const warm = await applicationMessages(group, "warm", 8);
      await measure(instance, sinks, outbox, warm.objects);
      const fetches = sinks.reduce((sum, sink) => sum + sink.actorFetches, 0);
      ctx.log(`mls: warm-up done, ${fetches} actor documents fetched by Parley`);

      const tpMessages = await applicationMessages(group, "tp", THROUGHPUT_MESSAGES);
      ctx.log(
        `mls: throughput, ${THROUGHPUT_MESSAGES} Creates (${tpMessages.perMessageMs.toFixed(2)} ms each to encrypt), ${CONCURRENCY} in flight`,
      );
      const tp = await measure(instance, sinks, outbox, tpMessages.objects);
      const sent = tp.load.sentAt.filter((at) => at > 0);
      const firstSent = sent.length ? Math.min(...sent) : Date.now();
      const lastAt = Math.max(firstSent + 1, ...tp.lastReceipt);
      const createsPerSec = (tp.complete * 1000) / (lastAt - firstSent);
      const outboxPerSec = (tp.accepted * 1000) / tp.load.elapsedMs;
      ctx.log(
        `mls: ${tp.complete} of ${tp.accepted} accepted reached all ${SERVERS} servers, ${tp.unverified} unverified, outbox ${JSON.stringify(tp.load.byStatus)}`,
      );

      const latencyRate = Math.max(1, createsPerSec / 2);
      const latencyCount = Math.ceil((latencyRate * LATENCY_MS) / 1000);
      const latMessages = await applicationMessages(group, "lat", latencyCount);
      ctx.log(`mls: latency at ${Math.round(latencyRate)}/s, ${latencyCount} Creates`);
      const lat = await measure(instance, sinks, outbox, latMessages.objects, latencyRate);
      const delays = lat.lastReceipt.flatMap((at, i) => (at >= 0 && lat.load.sentAt[i] > 0 ? [at - lat.load.sentAt[i]] : []));
      const latency = summarize(delays);
      const answered = summarize(lat.load.latenciesMs);
      const at = `@${Math.round(latencyRate)}/s`;

      const results: BenchResult[] = [
        {
          metric: `Creates delivered to all ${SERVERS} servers/s (${RECIPIENTS} recipients)`,
          value: round(createsPerSec, 1),
          unit: "Create/s",
        },
        { metric: "objects x recipients/s", value: round(createsPerSec * RECIPIENTS, 0), unit: "recipient/s" },
        { metric: `signed deliveries/s (${SERVERS} per Create, shared inboxes)`, value: round(createsPerSec * SERVERS, 0), unit: "req/s" },
        { metric: "outbox POSTs/s (during delivery)", value: round(outboxPerSec, 1), unit: "req/s" },
        { metric: `outbox POST->last server p50 ${at}`, value: round(latency.p50), unit: "ms" },
        { metric: `outbox POST->last server p99 ${at}`, value: round(latency.p99), unit: "ms" },
        { metric: `outbox POST answered (201) p50 ${at}`, value: round(answered.p50), unit: "ms" },
        { metric: `outbox POST answered (201) p99 ${at}`, value: round(answered.p99), unit: "ms" },
        { metric: `ts-mls: ${RECIPIENTS + 1}-member group built (runner)`, value: Math.round(group.builtMs), unit: "ms" },
        { metric: "ts-mls: application message encrypted (runner)", value: round(tpMessages.perMessageMs), unit: "ms" },
      ];
      const rss = await instance.peakRssMb();
      results.push(
        { metric: "mls peak RSS, web process", value: rss.web, unit: "MB", goal: "<= 300 MB" },
        { metric: "mls peak RSS, worker process", value: rss.worker, unit: "MB", goal: "<= 300 MB" },
      );
      const unverified = tp.unverified + lat.unverified;
      if (unverified) results.push({ metric: "deliveries failing sink verification", value: unverified, unit: "req" });
      const personal = tp.personal + lat.personal;
      if (personal) results.push({ metric: "deliveries to personal inboxes (expected none)", value: personal, unit: "req" });
      const missing = tp.accepted - tp.complete + (lat.accepted - delays.length);
      if (missing) results.push({ metric: "Creates not at every server in time", value: missing, unit: "Create" });
      const refused = tp.load.sent - tp.accepted + (lat.load.sent - lat.accepted);
      if (refused) results.push({ metric: "outbox POSTs not accepted (not 201)", value: refused, unit: "req" });
      return results;
    } finally {
      await instance.close();
      await Promise.all(sinks.map((sink) => sink.close()));
    }
  },
};
