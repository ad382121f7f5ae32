import { defineConfig } from "vitest/config"

// One run over every package. Workspace packages resolve to their TypeScript sources through the
// "@sandkit/source" export condition, so the tests never depend on a stale `dist/`.
export default defineConfig({
  ssr: { resolve: { conditions: ["@sandkit/source"] } },
  test: {
    projects: [
      { extends: true, test: { name: "packages", include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts"] } }
    ],
    // apps/integration pins @opentelemetry/api ~1.9, so pnpm gave it its own copy of vitest (an optional peer of
    // vitest) and of @effect/vitest; run through the root vitest, that copy would find no runner. Inlined,
    // @effect/vitest's `import "vitest"` resolves to the running vitest.
    server: { deps: { inline: ["@effect/vitest"] } },
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
