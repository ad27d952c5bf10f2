import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
let p: TestParley;
beforeAll(async () => { p = await startTestParley({ queue: "postgres" }); });
afterAll(() => p.close());
it("explore", async () => {
  await createAccount(p, "alice");
  const host = new URL(p.url).host;
  const show = async (path: string, h: Record<string,string> = {}) => {
    const r = await fetch(p.url + path, { headers: h });
    console.log(path, r.status, r.headers.get("content-type"), (await r.text()).slice(0, 3000));
  };
  await show(`/.well-known/webfinger?resource=acct:alice@${host}`);
  await show(`/.well-known/webfinger?resource=acct:nobody@${host}`);
  await show(`/users/alice`, { accept: "application/activity+json" });
  await show(`/users/nobody`, { accept: "application/activity+json" });
  await show(`/users/alice/outbox`, { accept: "application/activity+json" });
  await show(`/users/alice`, { accept: "text/html" });
  await show(`/.well-known/nodeinfo`);
  await show(`/nodeinfo/2.1`);
  await show(`/nodeinfo/2.0`);
  await show(`/schemas/litepub-0.1.jsonld`);
  await show(`/api/docs/`);
  await show(`/readyz`);
  const r = await fetch(p.url + "/users/alice/inbox", { method: "POST", headers: { "content-type": "application/activity+json" }, body: JSON.stringify({ type: "Create", id: "http://x/1", actor: "http://x/u" }) });
  console.log("inbox", r.status, await r.text());
  const r2 = await fetch(p.url + "/inbox", { method: "POST", headers: { "content-type": "application/activity+json" }, body: "{}" });
  console.log("shared inbox", r2.status, await r2.text());
});
