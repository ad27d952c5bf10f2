/**
 * Soak (issue 7, part 4): Parley as production runs it (a web process and a worker process,
 * bench/lib/parley-processes.ts) under a steady, modest, mixed load for N minutes, sampled every 10 s.
 *
 *   npx tsx bench/soak.ts --minutes N [--queue redis|postgres] [--rate R]
 *
 * Load (all loopback, each stream paced at a fixed rate, bounded in time and in requests in flight):
 *  - R API message posts/s (default 20) from local accounts to remote accounts whose inboxes are a
 *    verifying loopback sink (test/helpers/inbox-sink.ts), so every post becomes a delivery;
 *  - R signed inbox Create{ChatMessage}/s from remote actors served by a loopback remote server
 *    (test/helpers/remote.ts), to local accounts;
 *  - R API reads/s: chat lists (v1 and v2) and message pages, alternating;
 *  - a few streaming WebSocket clients (stream=user) connected throughout.
 * Every 10 s: RSS (VmRSS) and open fds of each process, queue depth (waiting+prioritized+active+delayed
 * of `deliver` and `inbound`) and pending rows of deliveries / inbox_activities, API and inbox latency
 * p50/p99 over the window, deliveries received by the sink in the window. Written to
 * bench/results/soak-<date>.csv and printed; at the end a summary (first vs last 5 minutes, RSS slope
 * over the second half) and an SVG plot (bench/results/soak-<date>.svg, converted to PNG when
 * librsvg's `rsvg-convert` or ImageMagick's `convert` is on the machine). When the server runs
 * without autovacuum, the soak runs VACUUM (ANALYZE) every minute in its place.
 */
import { execFile } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { openQueues, queueBackend } from "../src/queues/queues.js";
import { createLogger } from "../src/shared/logger.js";
import { insertRemoteAccount } from "../test/helpers/delivery.js";
import { pleromaChatMessage } from "../test/helpers/inbox.js";
import { startInboxSink } from "../test/helpers/inbox-sink.js";
import { api, createAccount, TEST_REDIS } from "../test/helpers/parley.js";
import { type RemoteActor, signedPost, startRemoteServer } from "../test/helpers/remote.js";
import { startParleyProcesses } from "./lib/parley-processes.js";
import { signPost } from "./lib/sign.js";
import { percentile } from "./lib/stats.js";
import type { QueueBackend } from "./types.js";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "2" },
    queue: { type: "string", default: "redis" },
    rate: { type: "string", default: "20" },
    streams: { type: "string", default: "4" },
    out: { type: "string" },
  },
});
const MINUTES = Number(args.minutes);
const QUEUE = args.queue as QueueBackend;
const RATE = Number(args.rate);
const STREAM_CLIENTS = Number(args.streams);
if (!(MINUTES > 0) || !(RATE > 0) || (QUEUE !== "redis" && QUEUE !== "postgres")) {
  console.error("usage: npx tsx bench/soak.ts --minutes N [--queue redis|postgres] [--rate R] [--streams K]");
  process.exit(2);
}
const SAMPLE_MS = 10_000;
const LOCALS = 10;
const VACUUM_EVERY_MS = 60_000;
const ACTORS = 20;
/** Requests in flight per load stream beyond which a tick is skipped (and counted). */
const MAX_IN_FLIGHT = 200;
const REQUEST_TIMEOUT_MS = 10_000;

const root = fileURLToPath(new URL("..", import.meta.url));
const stamp = new Date().toISOString().replace(/:/g, "").replace(/\..*$/, "Z");
const outBase = args.out ?? path.join(root, "bench/results", `soak-${stamp}`);
const log = (msg: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}`);

// ---------- load machinery ----------

interface Window {
  apiLatency: number[];
  inboxLatency: number[];
  apiErrors: number;
  inboxErrors: number;
  skipped: number;
  posts: number;
}
/** Requests without a 2xx answer over the whole run, by stream and status (or error code). */
const errorKinds: Record<string, number> = {};
const fresh = (): Window => ({ apiLatency: [], inboxLatency: [], apiErrors: 0, inboxErrors: 0, skipped: 0, posts: 0 });
let win = fresh();

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function http(
  origin: string,
  method: string,
  pathName: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  const target = new URL(origin);
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        method,
        host: target.hostname,
        port: target.port,
        path: pathName,
        headers: body ? { ...headers, "content-length": String(Buffer.byteLength(body)) } : headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", () => resolve({ status: -1, body: "" }));
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error("timeout")));
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ status: -1, body: error.code ?? error.message }));
    req.end(body);
  });
}

/** Calls `fire` `rate` times a second until `stopAt` (absolute schedule, no catch-up bursts); bounded in flight. */
function paced(rate: number, stopAt: number, fire: (i: number) => Promise<void>): Promise<void> {
  let inFlight = 0;
  let i = 0;
  const started = performance.now();
  return new Promise((resolve) => {
    const pending = new Set<Promise<void>>();
    const tick = () => {
      const now = performance.now();
      if (Date.now() >= stopAt || interrupted) {
        void Promise.all(pending).then(() => resolve());
        return;
      }
      // Requests due by now; if we fell far behind (event-loop stall), skip rather than burst.
      const due = Math.floor(((now - started) * rate) / 1000);
      if (due - i > rate) {
        win.skipped += due - i - 1;
        i = due - 1;
      }
      while (i < due) {
        const index = i++;
        if (inFlight >= MAX_IN_FLIGHT) {
          win.skipped++;
          continue;
        }
        inFlight++;
        const p = fire(index).finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      setTimeout(tick, Math.max(1, 1000 / rate / 2));
    };
    tick();
  });
}

// ---------- process probes ----------

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}
async function fds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

// ---------- output ----------

const COLUMNS = [
  "t_s",
  "web_rss_mb",
  "worker_rss_mb",
  "web_fds",
  "worker_fds",
  "deliver_jobs",
  "inbound_jobs",
  "deliveries_pending",
  "inbox_pending",
  "api_p50_ms",
  "api_p99_ms",
  "inbox_p50_ms",
  "inbox_p99_ms",
  "api_requests",
  "api_errors",
  "inbox_requests",
  "inbox_errors",
  "sink_received",
  "sink_unverified",
  "stream_frames",
  "ws_open",
  "skipped",
  // The machine's 1-minute load average: the machine is shared, and latency means little without it.
  "machine_load1",
] as const;
type Sample = Record<(typeof COLUMNS)[number], number>;

const r1 = (x: number) => Math.round(x * 10) / 10;
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const mx = mean(xs);
  const my = mean(ys);
  let num = 0;
  let den = 0;
  for (let k = 0; k < xs.length; k++) {
    num += (xs[k] - mx) * (ys[k] - my);
    den += (xs[k] - mx) ** 2;
  }
  return den ? num / den : NaN;
}

function svgPlot(samples: Sample[], title: string): string {
  const W = 900;
  const panelH = 200;
  const left = 70;
  const right = 170;
  const top = 40;
  const gap = 50;
  const panels: { title: string; unit: string; series: { key: keyof Sample; label: string; color: string }[] }[] = [
    {
      title: "RSS",
      unit: "MB",
      series: [
        { key: "web_rss_mb", label: "web RSS", color: "#1f77b4" },
        { key: "worker_rss_mb", label: "worker RSS", color: "#d62728" },
      ],
    },
    {
      title: "p99 latency (per 10 s window)",
      unit: "ms",
      series: [
        { key: "api_p99_ms", label: "API p99", color: "#2ca02c" },
        { key: "inbox_p99_ms", label: "inbox p99", color: "#9467bd" },
      ],
    },
    {
      title: "Queue depth",
      unit: "jobs / rows",
      series: [
        { key: "deliver_jobs", label: "deliver jobs", color: "#ff7f0e" },
        { key: "inbound_jobs", label: "inbound jobs", color: "#8c564b" },
        { key: "deliveries_pending", label: "deliveries pending", color: "#e377c2" },
        { key: "inbox_pending", label: "inbox pending", color: "#7f7f7f" },
      ],
    },
  ];
  const H = top + panels.length * (panelH + gap) + 10;
  const tMax = Math.max(60, ...samples.map((s) => s.t_s));
  const plotW = W - left - right;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  panels.forEach((panel, p) => {
    const y0 = top + p * (panelH + gap);
    const values = panel.series.flatMap((s) => samples.map((x) => x[s.key]).filter(Number.isFinite));
    const vMax = niceMax(Math.max(1, ...values));
    const X = (t: number) => left + (t / tMax) * plotW;
    const Y = (v: number) => y0 + panelH - (v / vMax) * panelH;
    out.push(`<text x="${left}" y="${y0 - 8}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    out.push(`<rect x="${left}" y="${y0}" width="${plotW}" height="${panelH}" fill="none" stroke="#333"/>`);
    for (let k = 0; k <= 4; k++) {
      const v = (vMax * k) / 4;
      out.push(`<line x1="${left}" x2="${left + plotW}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/>`);
      out.push(`<text x="${left - 6}" y="${Y(v) + 4}" text-anchor="end">${r1(v)}</text>`);
    }
    const tStep = niceStep(tMax / 60 / 8) * 60;
    for (let t = 0; t <= tMax + 1e-9; t += tStep) {
      out.push(`<line x1="${X(t)}" x2="${X(t)}" y1="${y0 + panelH}" y2="${y0 + panelH + 4}" stroke="#333"/>`);
      out.push(`<text x="${X(t)}" y="${y0 + panelH + 16}" text-anchor="middle">${r1(t / 60)}</text>`);
    }
    out.push(`<text x="${left + plotW / 2}" y="${y0 + panelH + 32}" text-anchor="middle" fill="#555">minutes</text>`);
    out.push(
      `<text x="16" y="${y0 + panelH / 2}" transform="rotate(-90 16 ${y0 + panelH / 2})" text-anchor="middle" fill="#555">${esc(panel.unit)}</text>`,
    );
    panel.series.forEach((s, k) => {
      const pts = samples.filter((x) => Number.isFinite(x[s.key])).map((x) => `${X(x.t_s).toFixed(1)},${Y(x[s.key]).toFixed(1)}`);
      if (pts.length) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.8" points="${pts.join(" ")}"/>`);
      const ly = y0 + 14 + k * 18;
      out.push(
        `<line x1="${left + plotW + 12}" x2="${left + plotW + 32}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`,
      );
      out.push(`<text x="${left + plotW + 38}" y="${ly}">${esc(s.label)}</text>`);
    });
  });
  out.push("</svg>");
  return out.join("\n");
}
function niceStep(raw: number): number {
  const steps = [0.25, 0.5, 1, 2, 5, 10, 15, 30, 60];
  return steps.find((s) => s >= raw) ?? 60;
}
function niceMax(v: number): number {
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (v <= m * mag) return m * mag;
  return 10 * mag;
}

// ---------- main ----------

const sink = await startInboxSink();
const remote = await startRemoteServer();
log(`starting Parley (web + worker), queue backend ${QUEUE}`);
const instance = await startParleyProcesses(QUEUE);
const backend = queueBackend({
  redisUrl: QUEUE === "redis" ? TEST_REDIS : undefined,
  databaseUrl: instance.databaseUrl,
  prefix: instance.queuePrefix,
});
const queues = await openQueues(backend, createLogger("warn", process.stderr));
const sockets: WebSocket[] = [];
let stopping = false;
let interrupted = false;
process.on("SIGINT", () => {
  log("SIGINT: stopping the load early");
  interrupted = true;
});

try {
  // Setup: local accounts, each with a chat to one remote (sink) account; remote actors writing in.
  const locals: { username: string; token: string; chatId: string }[] = [];
  for (let i = 0; i < LOCALS; i++) {
    const { account, token } = await createAccount(instance, `soak${i}`);
    const remoteAccount = await insertRemoteAccount(instance, sink);
    const opened = await api(instance.url, token).post(`/api/v1/pleroma/chats/by-account-id/${remoteAccount.id}`);
    if (opened.status !== 200) throw new Error(`open chat: ${opened.status} ${JSON.stringify(opened.body)}`);
    locals.push({ username: account.username, token, chatId: opened.body.id as string });
  }
  const actors: RemoteActor[] = Array.from({ length: ACTORS }, (_, i) => remote.actor(`soaker${i}`));
  const keys = actors.map((a) => createPrivateKey(a.privateKeyPem));
  // Warm-up: each actor once (Parley fetches and caches its key), one message post per chat.
  for (const [i, actor] of actors.entries()) {
    const to = `${instance.url}/users/${locals[i % LOCALS].username}`;
    const answer = await signedPost(`${to}/inbox`, pleromaChatMessage(actor, to), actor);
    if (answer.status !== 202) throw new Error(`warm-up inbox: ${answer.status} ${answer.body}`);
  }
  for (const local of locals)
    await api(instance.url, local.token).post(`/api/v1/pleroma/chats/${local.chatId}/messages`, { content: "warm-up" });

  // Streaming clients, reconnected if dropped.
  let frames = 0;
  let reconnects = 0;
  const connect = (k: number) => {
    const local = locals[k % LOCALS];
    const ws = new WebSocket(`${instance.url.replace(/^http/, "ws")}/api/v1/streaming?stream=user`, {
      headers: { authorization: `Bearer ${local.token}` },
    });
    ws.on("message", () => frames++);
    ws.on("error", () => {});
    ws.on("close", () => {
      if (stopping) return;
      reconnects++;
      setTimeout(() => (sockets[k] = connect(k)), 1_000);
    });
    return ws;
  };
  for (let k = 0; k < STREAM_CLIENTS; k++) sockets[k] = connect(k);

  const header = COLUMNS.join(",");
  await mkdir(path.dirname(outBase), { recursive: true });
  const csvFile = `${outBase}.csv`;
  await writeFile(csvFile, `${header}\n`);
  const samples: Sample[] = [];
  const started = Date.now();
  const stopAt = started + MINUTES * 60_000;
  log(
    `load for ${MINUTES} min: ${RATE} message posts/s, ${RATE} inbox Creates/s, ${RATE} API reads/s, ${STREAM_CLIENTS} streaming clients; CSV ${path.relative(root, csvFile)}`,
  );

  const timed = async (into: "api" | "inbox", run: () => Promise<{ status: number }>, ok: (status: number) => boolean) => {
    const t0 = performance.now();
    const { status, body } = (await run()) as { status: number; body?: string };
    const ms = performance.now() - t0;
    if (ok(status)) (into === "api" ? win.apiLatency : win.inboxLatency).push(ms);
    else {
      const kind = `${into} ${status < 0 ? body || "error" : status}`;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
      if (into === "api") win.apiErrors++;
      else win.inboxErrors++;
    }
  };

  const sample = async (): Promise<Sample> => {
    const w = win;
    win = fresh();
    const received = sink.received.splice(0);
    remote.requests.splice(0);
    const [webRss, workerRss, webFds, workerFds] = await Promise.all([
      rssMb(instance.web.pid!),
      rssMb(instance.worker.pid!),
      fds(instance.web.pid!),
      fds(instance.worker.pid!),
    ]);
    const [deliverCounts, inboundCounts] = await Promise.all(
      [queues.deliver, queues.inbound].map((q) => q.getJobCounts("waiting", "prioritized", "active", "delayed")),
    );
    const depth = (c: Record<string, number>) => (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0) + (c.delayed ?? 0);
    const [rows] = await instance.sql`SELECT
      (SELECT count(*)::int FROM deliveries WHERE status = 'pending') AS deliveries,
      (SELECT count(*)::int FROM inbox_activities WHERE status = 'pending') AS inbox`;
    const api = [...w.apiLatency].sort((a, b) => a - b);
    const inb = [...w.inboxLatency].sort((a, b) => a - b);
    const s: Sample = {
      t_s: Math.round((Date.now() - started) / 1000),
      web_rss_mb: r1(webRss),
      worker_rss_mb: r1(workerRss),
      web_fds: webFds,
      worker_fds: workerFds,
      deliver_jobs: depth(deliverCounts),
      inbound_jobs: depth(inboundCounts),
      deliveries_pending: rows.deliveries as number,
      inbox_pending: rows.inbox as number,
      api_p50_ms: r1(percentile(api, 50)),
      api_p99_ms: r1(percentile(api, 99)),
      inbox_p50_ms: r1(percentile(inb, 50)),
      inbox_p99_ms: r1(percentile(inb, 99)),
      api_requests: api.length + w.apiErrors,
      api_errors: w.apiErrors,
      inbox_requests: inb.length + w.inboxErrors,
      inbox_errors: w.inboxErrors,
      sink_received: received.length,
      sink_unverified: received.filter((x) => !x.signature.verified).length,
      stream_frames: frames,
      ws_open: sockets.filter((ws) => ws?.readyState === WebSocket.OPEN).length,
      skipped: w.skipped,
      machine_load1: Math.round(loadavg()[0] * 100) / 100,
    };
    frames = 0;
    return s;
  };

  const print = (s: Sample) =>
    log(
      `t=${s.t_s}s rss web ${s.web_rss_mb} / worker ${s.worker_rss_mb} MB, fds ${s.web_fds}/${s.worker_fds}, ` +
        `jobs deliver ${s.deliver_jobs} inbound ${s.inbound_jobs}, pending rows ${s.deliveries_pending}/${s.inbox_pending}, ` +
        `api p50/p99 ${s.api_p50_ms}/${s.api_p99_ms} ms (${s.api_requests}, ${s.api_errors} err), inbox ${s.inbox_p50_ms}/${s.inbox_p99_ms} ms (${s.inbox_requests}, ${s.inbox_errors} err), ` +
        `sink ${s.sink_received}${s.sink_unverified ? ` (${s.sink_unverified} unverified)` : ""}, frames ${s.stream_frames}, ws ${s.ws_open}${s.skipped ? `, skipped ${s.skipped}` : ""}, load ${s.machine_load1}`,
    );
  // t=0: after setup and warm-up, before the load (latency columns empty). Not used in the averages.
  const idle = await sample();
  await writeFile(csvFile, `${COLUMNS.map((c) => idle[c]).join(",")}\n`, { flag: "a" });
  print(idle);
  const posts = paced(RATE, stopAt, async (i) => {
    if (interrupted) return;
    const local = locals[i % LOCALS];
    win.posts++;
    await timed(
      "api",
      () =>
        http(
          instance.url,
          "POST",
          `/api/v1/pleroma/chats/${local.chatId}/messages`,
          { authorization: `Bearer ${local.token}`, "content-type": "application/json" },
          JSON.stringify({ content: `soak ${i}` }),
        ),
      (s) => s === 200,
    );
  });
  const inbox = paced(RATE, stopAt, async (i) => {
    if (interrupted) return;
    const a = i % ACTORS;
    const recipient = locals[(i * 7 + a) % LOCALS].username;
    const to = `${instance.url}/users/${recipient}`;
    const prepared = signPost(
      `${to}/inbox`,
      JSON.stringify(pleromaChatMessage(actors[a], to, { content: `soak inbound ${i}` })),
      actors[a].keyId,
      keys[a],
    );
    await timed(
      "inbox",
      () => http(instance.url, "POST", prepared.path, prepared.headers, prepared.body),
      (s) => s === 202,
    );
  });
  const reads = paced(RATE, stopAt, async (i) => {
    if (interrupted) return;
    const local = locals[i % LOCALS];
    const paths = [
      "/api/v1/pleroma/chats",
      "/api/v2/pleroma/chats",
      `/api/v1/pleroma/chats/${local.chatId}/messages`,
      `/api/v1/pleroma/chats/${local.chatId}/messages?limit=40`,
    ];
    await timed(
      "api",
      () => http(instance.url, "GET", paths[i % paths.length], { authorization: `Bearer ${local.token}` }),
      (s) => s === 200,
    );
  });

  const samplerDone = (async () => {
    let next = started + SAMPLE_MS;
    while (next <= stopAt + 1 && !interrupted) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
      if (interrupted) break;
      const s = await sample();
      samples.push(s);
      await writeFile(csvFile, `${COLUMNS.map((c) => s[c]).join(",")}\n`, { flag: "a" });
      print(s);
      next += SAMPLE_MS;
    }
  })();
  // This machine's PostgreSQL runs with autovacuum off (a CI setting). Without it no table is ever
  // analyzed or vacuumed: plans cached on pooled connections keep the estimates of an empty table
  // and the API's p99 grows with the data (docs/reliability-soak-notes.md). A production server
  // has autovacuum on, so the soak stands in for it: VACUUM (ANALYZE) of its database every minute.
  const [{ autovacuum }] = await instance.sql<{ autovacuum: string }[]>`SHOW autovacuum`;
  let vacuums = 0;
  const vacuumDone = (async () => {
    if (autovacuum === "on") return;
    log("autovacuum is off on this server: VACUUM (ANALYZE) every 60 s stands in for it");
    while (Date.now() + VACUUM_EVERY_MS < stopAt && !interrupted) {
      await new Promise((resolve) => setTimeout(resolve, VACUUM_EVERY_MS));
      await instance.sql`VACUUM (ANALYZE)`.then(
        () => vacuums++,
        (error) => log(`VACUUM failed: ${error}`),
      );
    }
  })();
  await Promise.all([posts, inbox, reads, samplerDone, vacuumDone]);

  // Drain check: does the backlog clear once the load stops? (bounded: 60 s)
  const drainStart = Date.now();
  let drained = false;
  while (Date.now() - drainStart < 60_000) {
    const [rows] = await instance.sql`SELECT
      (SELECT count(*)::int FROM deliveries WHERE status = 'pending') AS deliveries,
      (SELECT count(*)::int FROM inbox_activities WHERE status = 'pending') AS inbox`;
    if ((rows.deliveries as number) === 0 && (rows.inbox as number) === 0) {
      drained = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const [totals] = await instance.sql`SELECT
    (SELECT count(*)::int FROM deliveries WHERE status = 'delivered') AS delivered,
    (SELECT count(*)::int FROM deliveries WHERE status = 'failed') AS failed,
    (SELECT count(*)::int FROM inbox_activities WHERE status = 'applied') AS applied,
    (SELECT count(*)::int FROM inbox_activities WHERE status = 'failed') AS inbox_failed`;

  // ---------- summary ----------
  const lines: string[] = [];
  const say = (l: string) => {
    lines.push(l);
    console.log(l);
  };
  const totalMin = (samples.at(-1)?.t_s ?? 0) / 60;
  const span = Math.min(5, totalMin / 2);
  const first = samples.filter((s) => s.t_s <= span * 60);
  const last = samples.filter((s) => s.t_s > (totalMin - span) * 60);
  say("");
  say(
    `Soak summary: ${r1(totalMin)} min, queue ${QUEUE}, rate ${RATE}/s per stream, ${samples.length} samples; first vs last ${r1(span)} min (averages)`,
  );
  say(`| metric | first ${r1(span)} min | last ${r1(span)} min |`);
  say(`|---|---:|---:|`);
  for (const c of COLUMNS.slice(1)) {
    const a = mean(first.map((s) => s[c]).filter(Number.isFinite));
    const b = mean(last.map((s) => s[c]).filter(Number.isFinite));
    say(`| ${c} | ${r1(a)} | ${r1(b)} |`);
  }
  const half = samples.filter((s) => s.t_s > (totalMin * 60) / 2);
  const firstHalf = samples.filter((s) => s.t_s <= (totalMin * 60) / 2);
  const slopes = (set: Sample[], key: "web_rss_mb" | "worker_rss_mb") =>
    slope(
      set.map((s) => s.t_s / 60),
      set.map((s) => s[key]),
    );
  say(
    `idle (after setup, before the load): RSS web ${idle.web_rss_mb} MB, worker ${idle.worker_rss_mb} MB; fds ${idle.web_fds}/${idle.worker_fds}`,
  );
  const verdicts: string[] = [];
  for (const key of ["web_rss_mb", "worker_rss_mb"] as const) {
    const s1 = slopes(firstHalf, key);
    const s2 = slopes(half, key);
    const start = samples[0]?.[key];
    const end = samples.at(-1)?.[key];
    // "Levels off": the second half grows by less than 1 MB/min (30 MB an hour at most).
    const levels = s2 < 1;
    verdicts.push(`${key.replace("_rss_mb", "")}: ${levels ? "levels off" : "still growing"}`);
    say(
      `${key}: ${start} MB at the first sample -> ${end} MB at the last; slope first half ${r1(s1)} MB/min, second half ${r1(s2)} MB/min -> ${levels ? "levels off" : "STILL GROWING"}`,
    );
  }
  say(
    `totals: deliveries delivered ${totals.delivered}, failed ${totals.failed}; inbox applied ${totals.applied}, failed ${totals.inbox_failed}; backlog ${drained ? "drained" : "NOT drained"} ${Math.round((Date.now() - drainStart) / 1000)} s after the load stopped; websocket reconnects ${reconnects}; autovacuum ${autovacuum}${autovacuum === "on" ? "" : ` (${vacuums} VACUUM ANALYZE by the soak)`}; requests without a 2xx answer: ${JSON.stringify(errorKinds)}`,
  );
  say(`verdict: ${verdicts.join("; ")}`);
  await writeFile(`${outBase}-summary.md`, `${lines.join("\n")}\n`);

  const svg = svgPlot(
    [idle, ...samples],
    `Parley soak ${new Date(started).toISOString().slice(0, 16).replace("T", " ")} UTC, ${r1(totalMin)} min, ${QUEUE}, ${RATE}/s per stream`,
  );
  await writeFile(`${outBase}.svg`, svg);
  const png = (await svgToPng(`${outBase}.svg`, `${outBase}.png`))
    ? `, ${path.relative(root, `${outBase}.png`)}`
    : " (no PNG: install librsvg2-bin or ImageMagick)";
  log(
    `wrote ${path.relative(root, csvFile)}, ${path.relative(root, `${outBase}-summary.md`)}, ${path.relative(root, `${outBase}.svg`)}${png}`,
  );
} finally {
  stopping = true;
  for (const ws of sockets) ws?.terminate();
  agent.destroy();
  await queues.close();
  await instance.close();
  await remote.close();
  await sink.close();
}

/** librsvg first (`apt-get install librsvg2-bin`), then ImageMagick; false when neither converts. */
async function svgToPng(svg: string, png: string): Promise<boolean> {
  const run = (command: string, args: string[]) => new Promise<boolean>((resolve) => execFile(command, args, (error) => resolve(!error)));
  return (await run("rsvg-convert", ["-b", "white", "-o", png, svg])) || (await run("convert", [svg, png]));
}
