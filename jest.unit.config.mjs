import base from "./jest.config.mjs";

/**
 * The unit suite (`npm run test:unit`): pure functions only, no PostgreSQL, Redis or instance, so
 * it runs in seconds. test/unit/isolation.test.ts fails if a unit test reaches code that connects.
 * The default config (`npm test`) runs these files too, with the integration tests.
 */
export default {
  ...base,
  testMatch: ["<rootDir>/test/unit/**/*.test.ts"],
  testTimeout: 5_000,
  // Nothing shared to contend for: as many workers as jest likes.
  maxWorkers: "50%",
};
