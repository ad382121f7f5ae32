// The conformance suite for the E2B provider against the offline emulator, through the plain runner, for Node, Bun
// and Deno (after `pnpm -r build`):
//   node --conditions=@sandkit/source packages/e2b/test/conformance.run.ts
//   bun packages/e2b/test/conformance.run.ts
//   deno run -A packages/e2b/test/conformance.run.ts
import { runConformanceMain } from "@sandkit/conformance"
import { emulatedLayer } from "./emulated.ts"

// With the provider's key variable set (the secrets audit sets a recognisable fake), the emulator accepts only that
// key, so the adapter's real request path carries it. Unset: the emulator's default key.
const env = (globalThis as { readonly process?: { readonly env: Record<string, string | undefined> } }).process?.env ?? {}
const apiKey = env.E2B_API_KEY
await runConformanceMain(emulatedLayer(undefined, apiKey ? { apiKey } : {}), { label: "e2b-run" })
