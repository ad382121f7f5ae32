// The conformance suite for the local provider through the plain runner, for Node, Bun and Deno (CI, after a build):
//   node packages/local/test/conformance.run.ts
//   bun packages/local/test/conformance.run.ts
//   deno run -A packages/local/test/conformance.run.ts
import { runConformanceMain } from "@sandkit/conformance"
import { LocalProvider } from "../src/index.ts"

// SANDKIT_LOCAL_ISOLATION=bubblewrap|namespaces|process forces a tier (default: the best that works here).
await runConformanceMain(LocalProvider.layerConfig(), { label: "local-run" })
