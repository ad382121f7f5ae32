// The conformance suite for the E2B provider against the offline emulator, through the plain runner, for Node, Bun
// and Deno (after `pnpm -r build`):
//   node --conditions=@sandkit/source packages/e2b/test/conformance.run.ts
//   bun packages/e2b/test/conformance.run.ts
//   deno run -A packages/e2b/test/conformance.run.ts
import { runConformanceMain } from "@sandkit/conformance"
import { emulatedLayer } from "./emulated.ts"

await runConformanceMain(emulatedLayer(), { label: "e2b-run" })
