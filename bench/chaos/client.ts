/** A small API client for the chaos run (no exceptions: status 0 = network error or timeout). */
export async function call(
  base: string,
  token: string,
  method: string,
  pathname: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  try {
    const response = await fetch(new URL(pathname, base), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed, link: response.headers.get("link") };
  } catch (error) {
    return { status: 0, body: String(error), link: null };
  }
}

export async function must(base: string, token: string, method: string, pathname: string, body?: unknown, expected = [200, 201]) {
  const response = await call(base, token, method, pathname, body);
  if (!expected.includes(response.status)) throw new Error(`${method} ${pathname}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}
