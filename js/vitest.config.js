// Front-end tests in a real (headless) Chromium: Debian's /usr/bin/chromium, driven by Playwright.
import { defineConfig } from "vitest/config";
import { playwright } from "@vitest/browser-playwright";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.js"],
    testTimeout: 20000,
    browser: {
      enabled: true,
      headless: true,
      provider: playwright({
        launchOptions: {
          executablePath: CHROMIUM,
          args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"],
        },
      }),
      instances: [{ browser: "chromium" }],
    },
  },
});
