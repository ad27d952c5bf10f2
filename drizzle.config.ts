import { defineConfig } from "drizzle-kit";

// `npm run db:generate` only diffs the schema files; it needs no database.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema/index.ts",
  out: "./drizzle",
});
