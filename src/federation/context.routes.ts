import { defineRoute } from "../http/route.js";
import { litepubContext } from "./federation.js";

/** The JSON-LD context our activities name (`/schemas/litepub-0.1.jsonld`), served as Pleroma serves it. */
export const litepubContextRoutes = [
  defineRoute({
    method: "get",
    path: "/schemas/litepub-0.1.jsonld",
    summary: "The litepub JSON-LD context our activities reference",
    tags: ["federation"],
    auth: "none",
    responses: { 200: { description: "JSON-LD context" } },
    handle: async ({ res }) => {
      res.type("application/ld+json");
      res.send(JSON.stringify(litepubContext));
    },
  }),
];
