import base from "./jest.config.mjs";

/**
 * The browser smoke test (`npm run test:browser`): headless Chromium through puppeteer-core over the
 * pages a person opens (home, API docs, queue dashboard). Needs a Chromium binary (CHROMIUM_PATH,
 * default /usr/bin/chromium), so the default config (`npm test`) leaves it out.
 */
export default {
  ...base,
  testMatch: ["<rootDir>/test/browser/**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/"],
  // A cold Chromium start and Swagger UI's 1 MB bundle on a loaded CI machine.
  testTimeout: 120_000,
  maxWorkers: 1,
};
