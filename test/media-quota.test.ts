import { readdir } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { png, upload } from "./helpers/media.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * MEDIA_UPLOAD_QUOTA (10,000 bytes per hour here): the bytes an account stored in the last window.
 * Over it, `POST /api/v1|v2/media` answers 429 `upload_quota_exceeded` with Retry-After, and
 * nothing of the refused upload is kept (no row, no file, no temporary file).
 */

const QUOTA = 10_000;
/** A real PNG padded after its end to exactly 3,000 bytes: three fit the quota, a fourth does not. */
const file = () => {
  const image = png(3, 2);
  return Buffer.concat([image, Buffer.alloc(3_000 - image.length)]);
};

let parley: TestParley;
const sql = () => parley.parley.deps.db.$client;
const mediaDir = () => path.join(parley.parley.deps.config.dataDir, "media");
const storedFiles = async () => (await readdir(mediaDir())).filter((name) => name !== "tmp" && name !== "emoji").sort();
const rowsOf = async (accountId: string) =>
  (await sql()`SELECT path FROM media WHERE account_id = ${accountId} ORDER BY path`).map((r) => r.path);

beforeAll(async () => {
  parley = await startTestParley({ env: { MEDIA_UPLOAD_QUOTA: `${QUOTA}/3600` } });
});
afterAll(() => parley.close());

it("refuses the upload that would pass the quota with 429 and Retry-After, keeping nothing of it; other accounts are unaffected", async () => {
  const { account, token } = await createAccount(parley, "uploader");
  for (const version of ["v1", "v2", "v1"]) expect((await upload(parley.url, token, file(), "a.png", {}, version)).status).toBe(200);
  const filesBefore = await storedFiles();

  for (const version of ["v1", "v2"]) {
    const refused = await upload(parley.url, token, file(), "a.png", {}, version);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: "upload_quota_exceeded", limit_bytes: QUOTA, window_seconds: 3600, used_bytes: 9_000 });
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(3_500);
    expect(retryAfter).toBeLessThanOrEqual(3_600);
  }
  expect(await rowsOf(account.id)).toHaveLength(3);
  expect(await storedFiles()).toEqual(filesBefore);
  expect(await readdir(path.join(mediaDir(), "tmp"))).toEqual([]);

  // A small file still fits in what is left (1,000 bytes).
  const small = png(3, 2);
  expect((await upload(parley.url, token, small, "b.png")).status).toBe(200);

  const other = await createAccount(parley, "someone_else");
  expect((await upload(parley.url, other.token, file(), "c.png")).status).toBe(200);
});

it("counts a sliding window: Retry-After says when enough bytes leave it, and the upload then passes", async () => {
  const { account, token } = await createAccount(parley, "window");
  for (let i = 0; i < 3; i++) expect((await upload(parley.url, token, file(), "a.png")).status).toBe(200);
  // The oldest upload is nearly an hour old: 3,000 bytes leave the window in about 10 s.
  await sql()`UPDATE media SET created_at = now() - interval '3590 seconds'
    WHERE id = (SELECT id FROM media WHERE account_id = ${account.id} ORDER BY id LIMIT 1)`;
  const refused = await upload(parley.url, token, file(), "a.png");
  expect(refused.status).toBe(429);
  const retryAfter = Number(refused.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(11);

  await sql()`UPDATE media SET created_at = now() - interval '3601 seconds'
    WHERE id = (SELECT id FROM media WHERE account_id = ${account.id} ORDER BY id LIMIT 1)`;
  expect((await upload(parley.url, token, file(), "a.png")).status).toBe(200);
});

it("lets exactly as many parallel uploads through as fit", async () => {
  const { account, token } = await createAccount(parley, "parallel");
  const answers = await Promise.all(Array.from({ length: 8 }, () => upload(parley.url, token, file(), "p.png")));
  const statuses = answers.map((answer) => answer.status).sort();
  expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
  const [{ total }] = await sql()`SELECT sum(size)::int AS total FROM media WHERE account_id = ${account.id}`;
  expect(total).toBe(9_000);
  expect(await readdir(path.join(mediaDir(), "tmp"))).toEqual([]);
});

it("answers 413 upload_quota_exceeded for a file larger than the whole quota", async () => {
  const { account, token } = await createAccount(parley, "toobig");
  const image = png(3, 2);
  const refused = await upload(parley.url, token, Buffer.concat([image, Buffer.alloc(QUOTA + 1 - image.length)]), "big.png");
  expect(refused.status).toBe(413);
  expect(refused.body).toMatchObject({ error: "upload_quota_exceeded", limit_bytes: QUOTA });
  expect(await rowsOf(account.id)).toEqual([]);
});

/** Sends only the headers of an upload announcing `length` bytes; the answer given without the body. */
async function answerWithoutBody(token: string, length: number): Promise<string> {
  const { hostname, port } = new URL(parley.url);
  const socket = connect(Number(port), hostname);
  socket.on("error", () => {});
  let answer = "";
  socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
  socket.write(
    `POST /api/v1/media HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: multipart/form-data; boundary=x\r\nContent-Length: ${length}\r\n\r\n`,
  );
  const deadline = Date.now() + 5_000;
  while (!answer.includes("upload_quota_exceeded") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
  return answer;
}

it("refuses before reading the body when the quota is spent or the announced length cannot fit", async () => {
  const { account, token } = await createAccount(parley, "announced");
  // 5 MB announced (more than the whole quota even without the multipart framing), nothing sent.
  expect(await answerWithoutBody(token, 5_000_000)).toMatch(/^HTTP\/1\.1 413 /);

  for (let i = 0; i < 3; i++) expect((await upload(parley.url, token, file(), "a.png")).status).toBe(200);
  const image = png(3, 2);
  expect((await upload(parley.url, token, Buffer.concat([image, Buffer.alloc(1_000 - image.length)]), "b.png")).status).toBe(200);
  expect((await sql()`SELECT sum(size)::int AS total FROM media WHERE account_id = ${account.id}`)[0].total).toBe(QUOTA);
  // Spent to the byte: even a small body is refused before it is read.
  const answer = await answerWithoutBody(token, 2_000);
  expect(answer).toMatch(/^HTTP\/1\.1 429 /);
  expect(answer).toMatch(/retry-after: \d+/i);
});
