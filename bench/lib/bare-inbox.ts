/**
 * The inbox baseline, run as its own process: `bare-inbox.ts <keys.json>` (keyId → public key PEM).
 * A bare node:http server that checks Digest and the draft-cavage RSA-2048 signature (node:crypto
 * verify, KeyObject cached after first use), parses the JSON and answers 202. Prints {"port"}.
 */
import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";

const pems = JSON.parse(await readFile(process.argv[2], "utf8")) as Record<string, string>;
const keys = new Map<string, KeyObject>();

function params(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of header.matchAll(/(\w+)="([^"]*)"/g)) out[match[1]] = match[2];
  return out;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const reject = (status: number) => res.writeHead(status).end();
    if (req.headers.digest !== `SHA-256=${createHash("sha256").update(body).digest("base64")}`) return reject(400);
    const signature = params(String(req.headers.signature ?? ""));
    let key = keys.get(signature.keyId);
    if (!key) {
      const pem = pems[signature.keyId];
      if (!pem) return reject(401);
      key = createPublicKey(pem);
      keys.set(signature.keyId, key);
    }
    const signingString = (signature.headers ?? "date")
      .split(" ")
      .map((name) =>
        name === "(request-target)" ? `(request-target): ${req.method!.toLowerCase()} ${req.url}` : `${name}: ${req.headers[name]}`,
      )
      .join("\n");
    if (!verify("sha256", Buffer.from(signingString), key, Buffer.from(signature.signature ?? "", "base64"))) return reject(401);
    try {
      JSON.parse(body.toString("utf8"));
    } catch {
      return reject(400);
    }
    res.writeHead(202).end();
  });
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`);
});
