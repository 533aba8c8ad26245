import { defineConfig } from '@playwright/test';

// End-to-end tests in Debian's Chromium with real WebGPU (SwiftShader, a software adapter here).
// Never `npx playwright install`: the browser comes from apt (`/usr/bin/chromium`).
const PORT = Number(process.env.E2E_PORT ?? 4317);
// Another build folder (and port) lets two checkouts' suites run side by side without sharing dist/.
const OUT = process.env.E2E_OUT_DIR ? ` --outDir ${process.env.E2E_OUT_DIR}` : '';

export default defineConfig({
  testDir: 'test/e2e',
  timeout: 300_000,
  expect: { timeout: 120_000 },
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `http://localhost:${PORT}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  webServer: {
    command: `npx vite build --logLevel warn${OUT} && npx vite preview --port ${PORT} --strictPort${OUT}`,
    url: `http://localhost:${PORT}`,
    timeout: 180_000,
    reuseExistingServer: !process.env.CI,
  },
});
