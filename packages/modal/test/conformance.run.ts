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
// With the provider's key variable set (the secrets audit sets a recognisable fake), the emulator accepts only that
// key, so the adapter's real request path carries it. Unset: the emulator's default key.
const env = (globalThis as { readonly process?: { readonly env: Record<string, string | undefined> } }).process?.env ?? {}
const tokens = {
  ...(env.MODAL_TOKEN_ID ? { tokenId: env.MODAL_TOKEN_ID } : {}),
  ...(env.MODAL_TOKEN_SECRET ? { tokenSecret: env.MODAL_TOKEN_SECRET } : {})
}
await runConformanceMain(inDeno ? spawnedEmulatorLayer() : emulatedLayer(undefined, tokens), { label: "modal-run" })
