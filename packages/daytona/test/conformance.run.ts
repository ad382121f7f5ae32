// The conformance suite for the Daytona provider against the offline emulator, through the plain runner, for Node,
// Bun and Deno (after `pnpm -r build`):
//   node --conditions=@sandkit/source packages/daytona/test/conformance.run.ts
//   bun packages/daytona/test/conformance.run.ts
//   deno run -A packages/daytona/test/conformance.run.ts
// Fails (exit code 1) when a check fails or when a sandbox is left in the emulator afterwards.
import { runConformanceMain } from "@sandkit/conformance"
import type { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { emulatedLayer } from "./emulated.ts"

let emulator: DaytonaEmulator.DaytonaEmulator | undefined

// With the provider's key variable set (the secrets audit sets a recognisable fake), the emulator accepts only that
// key, so the adapter's real request path carries it. Unset: the emulator's default key.
const env = (globalThis as { readonly process?: { readonly env: Record<string, string | undefined> } }).process?.env ?? {}
const apiKey = env.DAYTONA_API_KEY
await runConformanceMain(
  emulatedLayer((started) => {
    emulator = started
  }, apiKey ? { apiKey } : {}),
  { label: "daytona-run" }
)
// The layer (and with it the emulator) is released once the run is over; what it held is recorded in `removals`.
const leftover = emulator?.registry.removals.filter((r) => r.reason === "closed").map((r) => r.id) ?? []
if (leftover.length > 0) {
  console.log(`leak: ${leftover.length} sandbox(es) still existed when the emulator closed: ${leftover.join(", ")}`)
  const runtime = (globalThis as { readonly process?: { exitCode?: number } }).process
  if (runtime !== undefined) runtime.exitCode = 1
}
