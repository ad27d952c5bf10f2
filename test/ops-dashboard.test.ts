import { chatTo, FAST_DELIVERY, insertRemoteAccount, waitUntil } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { createAccount, type QueueKind, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * `/admin/queues`: bull-board over every queue, on both queue backends, behind
 * ADMIN_TOKEN on the whole mount path (the page and its XHR API alike): Basic with any user name
 * and the token as password, or Bearer. A failed delivery job is readable and can be retried
 * (writes also need a JSON content type or our Origin: test/ops-dashboard-csrf.test.ts).
 */

describe.each<QueueKind>(["postgres", "redis"])("/admin/queues with the %s queue", (queue) => {
  let parley: TestParley;
  let sink: InboxSink;

  beforeAll(async () => {
    [parley, sink] = await Promise.all([startTestParley({ queue, deliveryTuning: FAST_DELIVERY }), startInboxSink()]);
  });
  afterAll(async () => {
    await Promise.all([parley?.close(), sink?.close()]);
  });

  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  const get = (path: string, authorization?: string) => fetch(`${parley.url}${path}`, { headers: authorization ? { authorization } : {} });

  it.each(["/admin/queues", "/admin/queues/api/queues", "/admin/queues/static/favicon.ico"])(
    "%s: 401 with a Basic challenge, without or with a wrong token",
    async (path) => {
      for (const authorization of [
        undefined,
        basic("admin", "wrong-token-0123456789"),
        "Bearer wrong-token-0123456789",
        basic(parley.adminToken, ""),
      ]) {
        const response = await get(path, authorization);
        expect(response.status).toBe(401);
        expect(response.headers.get("www-authenticate")).toBe('Basic realm="parley"');
        await response.body?.cancel();
      }
    },
  );

  it("200 with Basic (any user name) and with Bearer: the page and its API", async () => {
    for (const authorization of [basic("ops", parley.adminToken), basic("", parley.adminToken), `Bearer ${parley.adminToken}`]) {
      const page = await get("/admin/queues", authorization);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toMatch(/text\/html/);
      await page.body?.cancel();
      const api = await get("/admin/queues/api/queues", authorization);
      expect(api.status).toBe(200);
      const body = (await api.json()) as { queues: { name: string }[] };
      expect(body.queues.map((q) => q.name).sort()).toEqual(["deliver", "housekeeping", "inbound", "link-cards"]);
    }
  });

  it("shows a failed delivery job (name, data, failedReason) and retries it through the API", async () => {
    const auth = `Bearer ${parley.adminToken}`;
    const alice = await createAccount(parley, `alice${queue}`);
    const bob = await insertRemoteAccount(parley, sink);
    const chat = await chatTo(parley, alice.token, bob.id);
    sink.answer({ status: 400, body: "no thanks" });
    const sent = await chat.send("hello");
    await chat.until(sent.body.id, "failed");
    const deliver = parley.parley.deps.queues.deliver;
    const [failed] = await waitUntil(async () => {
      const jobs = await deliver.getJobs(["failed"]);
      return jobs.length > 0 ? jobs : undefined;
    });

    const listing = await get(`/admin/queues/api/queues?activeQueue=deliver&status=failed&page=1`, auth);
    expect(listing.status).toBe(200);
    const { queues } = (await listing.json()) as { queues: { name: string; jobs: any[] }[] };
    const job = queues.find((q) => q.name === "deliver")!.jobs.find((j) => j.id === failed.id);
    expect(job.name).toBe(`deliver Create → ${new URL(sink.url).host}`);
    expect(job.data).toMatchObject({
      deliveryId: failed.id,
      type: "Create",
      inboxUrl: sink.sharedInbox,
      attempts: 1,
      lastError: expect.stringContaining("HTTP 400"),
    });
    expect(job.data.messageId).toEqual(expect.any(String));
    expect(job.failedReason).toContain("HTTP 400");
    const logs = await get(`/admin/queues/api/queues/deliver/${failed.id}/logs`, auth);
    expect(logs.status).toBe(200);
    expect(JSON.stringify(await logs.json())).toContain("attempt 1: failed");

    const unauthorized = await fetch(`${parley.url}/admin/queues/api/queues/deliver/${failed.id}/retry`, { method: "PUT" });
    expect(unauthorized.status).toBe(401);
    // A write from a script: Bearer and a JSON content type (test/ops-dashboard-csrf.test.ts: the write rule).
    const retry = await fetch(`${parley.url}/admin/queues/api/queues/deliver/${failed.id}/retry`, {
      method: "PUT",
      headers: { authorization: auth, "content-type": "application/json" },
      body: "{}",
    });
    expect(retry.status).toBe(204);
    // It ran again (the row is no longer pending: nothing to send) and left the failed set.
    await waitUntil(async () => !(await deliver.getJobs(["failed"])).some((j) => j.id === failed.id));
  });
});
