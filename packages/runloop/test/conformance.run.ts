// The conformance suite for the Runloop provider against the offline emulator, through the plain runner, for Node,
// Bun and Deno (after `pnpm -r build`), from the repository root:
//   node --conditions=@sandkit/source packages/runloop/test/conformance.run.ts
//   bun packages/runloop/test/conformance.run.ts
//   deno run -A packages/runloop/test/conformance.run.ts
// On Node the SDK speaks HTTP/2 (h2c) to the emulator; Bun's and Deno's fetch speak HTTP/1.1, which it serves too.
import { runConformanceMain } from "@sandkit/conformance"
import { emulatedLayer } from "./emulated.ts"

// With the provider's key variable set (the secrets audit sets a recognisable fake), the emulator accepts only that
// key, so the adapter's real request path carries it. Unset: the emulator's default key.
const env = (globalThis as { readonly process?: { readonly env: Record<string, string | undefined> } }).process?.env ?? {}
const apiKey = env.RUNLOOP_API_KEY
await runConformanceMain(emulatedLayer(undefined, apiKey ? { apiKey } : {}), { label: "runloop-run" })
