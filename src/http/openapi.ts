import type { Router } from "express";
import swaggerUi from "swagger-ui-express";
import { createDocument } from "zod-openapi";
import { ErrorEntity } from "./entities.js";
import type { AnyRoute } from "./route.js";

const adminForbidden = { description: "A user's token, not ADMIN_TOKEN (`forbidden`)", schema: ErrorEntity };

/** OpenAPI 3.1 built from the routes' own zod schemas. */
export function openApiDocument(routes: AnyRoute[], publicUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, "{$1}");
    const jsonBody = route.body && {
      content: Object.fromEntries(
        ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"].map((type) => [type, { schema: route.body }]),
      ),
    };
    paths[path] ??= {};
    paths[path][route.method] = {
      summary: route.summary,
      tags: route.tags,
      security: route.auth === "none" ? [] : [{ [route.auth === "admin" ? "adminToken" : "bearer"]: [] }],
      requestParams: Object.fromEntries(
        Object.entries({ path: route.params, query: route.query, header: route.headers }).filter(([, schema]) => schema),
      ),
      ...(jsonBody ? { requestBody: jsonBody } : {}),
      responses: Object.fromEntries(
        Object.entries({ ...(route.auth === "admin" ? { 403: adminForbidden } : {}), ...route.responses }).map(([status, r]) => [
          status,
          { description: r.description, ...(r.schema ? { content: { "application/json": { schema: r.schema } } } : {}) },
        ]),
      ),
    };
  }
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "Parley",
      version: "0.1.0",
      description:
        "Pleroma-compatible chat API and admin API. As in Pleroma, every `/api/v1/pleroma/…` path is also answered at its legacy alias `/api/pleroma/…` (e.g. `/api/pleroma/chats`, `/api/pleroma/admin/users/{nickname}/chats`).",
    },
    servers: [{ url: publicUrl }],
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An account's access token" },
        adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" },
      },
    },
    paths: paths as never,
  });
}

/** `/api/openapi` (JSON) and `/api/docs` (Swagger UI served from node_modules; no outside requests). */
export function mountApiDocs(router: Router, routes: AnyRoute[], publicUrl: string): void {
  const document = openApiDocument(routes, publicUrl);
  router.get("/api/openapi", (_req, res) => {
    res.json(document);
  });
  router.use("/api/docs", swaggerUi.serve, swaggerUi.setup(undefined, { swaggerOptions: { url: "/api/openapi", validatorUrl: null } }));
}
