import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from "express";
import { z } from "zod";
import type { accounts } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { ApiError, invalidField, notFound, unauthorized } from "./errors.js";
import { applyRateLimit, rateLimiter, tokenKey } from "./rate-limit.js";

/**
 * One declaration per endpoint: the same zod schemas validate the request and generate the
 * OpenAPI document (src/http/openapi.ts), so the two cannot drift apart.
 */
type Shape = z.ZodObject<z.ZodRawShape>;
type Auth = "user" | "admin" | "none";
/** The account a user route acts for: its row, as the accounts table holds it. */
type RouteAccount = typeof accounts.$inferSelect;

/**
 * How a bearer token is checked, given by the composition root (src/app.ts, from accounts' tokens):
 * the route layer knows that requests carry tokens, not where accounts keep theirs.
 */
export interface RouteAuth {
  /** The account a user's token names, if any. */
  accountForToken(token: string): Promise<RouteAccount | undefined>;
  /** Whether the token is ADMIN_TOKEN (compared in constant time). */
  isAdminToken(token: string): boolean;
}

export interface RouteContext<P extends Shape, Q extends Shape, B extends Shape, A extends Auth> {
  deps: Deps;
  req: Request;
  res: Response;
  params: z.infer<P>;
  query: z.infer<Q>;
  body: z.infer<B>;
  account: A extends "user" ? RouteAccount : undefined;
}

export interface RouteDefinition<P extends Shape, Q extends Shape, B extends Shape, A extends Auth> {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** Express path (`:id` segments). */
  path: string;
  summary: string;
  tags: string[];
  auth: A;
  params?: P;
  query?: Q;
  body?: B;
  /** Request headers worth documenting (e.g. Idempotency-Key). */
  headers?: Shape;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  /**
   * Extra middleware (e.g. multipart parsing) run after authentication, before validation; a
   * function of the deps when it needs the configuration (uploads: DATA_DIR, MEDIA_MAX_BYTES).
   */
  before?: RequestHandler[] | ((deps: Deps) => RequestHandler[]);
  /** Returns the JSON body (status 200 unless the handler set another) or nothing when it answered itself. */
  handle(ctx: RouteContext<P, Q, B, A>): Promise<unknown>;
}

// biome-ignore lint/suspicious/noExplicitAny: the registry holds routes of every shape; each was checked when defined
export type AnyRoute = RouteDefinition<any, any, any, Auth>;
// biome-ignore lint/complexity/noBannedTypes: zod writes the shape of an object without keys as {}
type NoKeys = z.ZodObject<{}>;

export function defineRoute<A extends Auth, P extends Shape = NoKeys, Q extends Shape = NoKeys, B extends Shape = NoKeys>(
  route: RouteDefinition<P, Q, B, A>,
): AnyRoute {
  return route as AnyRoute;
}

/** The path of the first string holding a NUL character (PostgreSQL text cannot store one). */
function nulPath(value: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, item] of Object.entries(value)) {
    const found = nulPath(item, [...path, Array.isArray(value) ? Number(key) : key]);
    if (found) return found;
  }
  return undefined;
}

function parse<S extends Shape>(schema: S | undefined, input: unknown): z.infer<S> {
  if (!schema) return {} as z.infer<S>;
  const result = schema.safeParse(input ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    throw invalidField(issue.path.join(".") || "body", issue.message);
  }
  // A NUL would reach the database and fail there as a 500: refuse it here, naming the field.
  const nul = nulPath(result.data);
  if (nul) throw invalidField(nul.join(".") || "body", "must not contain NUL characters");
  return result.data;
}

/** Path parameters name things: one that cannot be stored (a NUL) names nothing. */
function parseParams<S extends Shape>(schema: S | undefined, input: unknown): z.infer<S> {
  if (nulPath(input)) throw notFound();
  return parse(schema, input);
}

export function bearerToken(req: Request): string | undefined {
  const header = req.get("authorization");
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  return match?.[1];
}

async function authenticate(tokens: RouteAuth, req: Request, auth: Auth): Promise<RouteAccount | undefined> {
  if (auth === "none") return undefined;
  const token = bearerToken(req);
  if (!token) throw unauthorized("missing_token");
  if (auth === "admin") {
    if (tokens.isAdminToken(token)) return undefined;
    // A valid user's token is known but not allowed (Pleroma: 403); only an unknown token is a 401.
    if (await tokens.accountForToken(token))
      throw new ApiError(403, "forbidden", { message: "this endpoint takes ADMIN_TOKEN, not a user's token" });
    throw unauthorized();
  }
  const account = await tokens.accountForToken(token);
  if (!account) throw unauthorized();
  return account;
}

/** JSON and form bodies (multipart is a route's own `before`), parsed only once the caller is known. */
const bodyParsers: RequestHandler[] = [express.json({ limit: "1mb" }), express.urlencoded({ extended: false, limit: "1mb" })];

export function mountRoutes(router: Router, deps: Deps, routes: AnyRoute[], tokens: RouteAuth): void {
  // RATE_LIMIT_API: per bearer token of a user route, counted once the token is known valid.
  const limiter = rateLimiter(deps);
  for (const route of routes) {
    // Authentication comes before any `before` middleware: an anonymous request never gets its
    // (multipart) body parsed, and is a 401 whatever that body holds.
    const authenticated = async (req: Request, res: Response, next: NextFunction) => {
      try {
        res.locals.account = await authenticate(tokens, req, route.auth);
        if (
          route.auth === "user" &&
          !(await applyRateLimit(deps, limiter, "api", tokenKey(bearerToken(req)!), deps.config.rateLimitApi, res))
        )
          return;
        next();
      } catch (error) {
        next(error);
      }
    };
    const handler = async (req: Request, res: Response, next: NextFunction) => {
      try {
        const ctx = {
          deps,
          req,
          res,
          account: res.locals.account as RouteAccount | undefined,
          params: parseParams(route.params, req.params),
          query: parse(route.query, req.query),
          body: parse(route.body, req.body),
        };
        const result = await route.handle(ctx as never);
        if (!res.headersSent) res.json(result);
      } catch (error) {
        next(error);
      }
    };
    const parsers = route.body ? bodyParsers : [];
    const before = typeof route.before === "function" ? route.before(deps) : (route.before ?? []);
    router[route.method](route.path, authenticated, ...parsers, ...before, handler);
  }
}

/** Query/body boolean as clients send it: true/false/1/0 (strings from forms and query strings). */
export const booleanLike = z.preprocess(
  (v) => (v === "true" || v === "1" || v === 1 ? true : v === "false" || v === "0" || v === 0 ? false : v),
  z.boolean(),
);

export { ApiError };
