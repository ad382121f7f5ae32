import { defineConfig } from "vitest/config"

// One run over every package. Workspace packages resolve to their TypeScript sources through the
// "@sandkit/source" export condition, so the tests never depend on a stale `dist/`.
export default defineConfig({
  ssr: { resolve: { conditions: ["@sandkit/source"] } },
  test: {
    projects: [
      { extends: true, test: { name: "packages", include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts"] } }
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
