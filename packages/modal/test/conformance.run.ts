// The conformance suite for the Modal provider against the offline emulator, through the plain runner, for Node, Bun
// and Deno (after `pnpm -r build`):
//   node --conditions=@sandkit/source packages/modal/test/conformance.run.ts
//   bun packages/modal/test/conformance.run.ts
//   deno run -A packages/modal/test/conformance.run.ts
// Under Deno the emulator runs in a child process: a grpc-js client and a node:http2 server in one Deno process crash
// it at teardown now and then (see the README). Node and Bun keep it in process.
import { runConformanceMain } from "@sandkit/conformance"
import { emulatedLayer, spawnedEmulatorLayer } from "./emulated.ts"

const inDeno = "Deno" in globalThis
await runConformanceMain(inDeno ? spawnedEmulatorLayer() : emulatedLayer(), { label: "modal-run" })
