import * as bullmq from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "pino";

/**
 * The queue backend: BullMQ on Redis when REDIS_URL is set, else BullMQ's PostgreSQL backend
 * (schema `bullmq` in our own database), so `npm start` needs nothing but PostgreSQL.
 */
export interface QueueBackend {
  kind: "redis" | "postgres";
  Queue: typeof bullmq.Queue;
  Worker: typeof bullmq.Worker;
  /** Fresh connection options for each Queue/Worker. */
  connection(): bullmq.ConnectionOptions;
  prefix: string | undefined;
  /**
   * Redis only: a fail-fast client for small commands (rate limits, the readiness probe): no
   * offline queue, 1 s command timeout, so a Redis outage fails a command at once.
   */
  commands?: () => Promise<Redis>;
  /** Throws when the backend does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function queueBackend(options: { redisUrl?: string; databaseUrl: string; prefix?: string }): QueueBackend {
  if (options.redisUrl) {
    const redisUrl = options.redisUrl;
    const probe = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false, commandTimeout: 1_000 });
    probe.on("error", () => {});
    const commands = async () => {
      if (probe.status === "wait") await probe.connect().catch(() => {});
      return probe;
    };
    // BullMQ never closes a connection it was handed as an ioredis instance ("shared"): we do.
    const connections = new Set<Redis>();
    return {
      kind: "redis",
      Queue: bullmq.Queue,
      Worker: bullmq.Worker,
      // BullMQ accepts an ioredis instance; workers need maxRetriesPerRequest null.
      connection: () => {
        const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
        connections.add(connection);
        return connection;
      },
      prefix: options.prefix,
      commands,
      async ping() {
        await (await commands()).ping();
      },
      // After every Queue and Worker is closed.
      close: async () => {
        probe.disconnect();
        await Promise.all([...connections].map((connection) => connection.quit().catch(() => connection.disconnect())));
        connections.clear();
      },
    };
  }
  const pg = bullmq.withBackend(bullmq.createPostgresBackend);
  return {
    kind: "postgres",
    // Cast once here: withBackend's classes carry a different connection type (a pool, not ioredis).
    Queue: pg.Queue as unknown as typeof bullmq.Queue,
    Worker: pg.Worker as unknown as typeof bullmq.Worker,
    connection: () => ({ connectionString: options.databaseUrl, migrate: true, max: 3 }) as unknown as bullmq.ConnectionOptions,
    prefix: options.prefix,
    // The PostgreSQL backend lives in our database: the database check covers it.
    ping: async () => {},
    close: async () => {},
  };
}

export const QUEUE_NAMES = {
  housekeeping: "housekeeping",
  /** Accepted inbox activities to apply (job id = inbox_activities.id). */
  inbound: "inbound",
  /** Outgoing activities to POST (job id = deliveries.id). */
  deliver: "deliver",
  /** Link preview cards to fetch (`link_cards` holds the outcome). */
  linkCards: "link-cards",
} as const;

export type QueueName = keyof typeof QUEUE_NAMES;

export type Queues = { [K in QueueName]: bullmq.Queue } & {
  backend: QueueBackend;
  all(): bullmq.Queue[];
  close(): Promise<void>;
};

export async function openQueues(backend: QueueBackend, logger: Logger): Promise<Queues> {
  const make = (name: string) => {
    const queue = new backend.Queue(name, { connection: backend.connection(), prefix: backend.prefix });
    queue.on("error", (error) => logger.error({ err: error, queue: name }, "queue error"));
    return queue;
  };
  const byName = Object.fromEntries(Object.entries(QUEUE_NAMES).map(([key, name]) => [key, make(name)])) as {
    [K in QueueName]: bullmq.Queue;
  };
  const list = Object.values(byName);
  await Promise.all(list.map((queue) => queue.waitUntilReady()));
  return {
    ...byName,
    backend,
    all: () => list,
    async close() {
      await Promise.all(list.map((queue) => queue.close()));
      await backend.close();
    },
  };
}
