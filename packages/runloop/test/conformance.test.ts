import { describeConformance } from "@sandkit/conformance/vitest"
import { makeProvider } from "@sandkit/core"
import type { RunloopEmulator } from "@sandkit/emulators/runloop"
import { Effect } from "effect"
import { afterEach, expect } from "vitest"
import { RunloopProvider } from "../src/index.ts"
import { emulatedLayer, emulatedOptions } from "./emulated.ts"

// The whole conformance suite through the real `@runloop/api-client` against the offline emulator, over the SDK's
// default transport (cleartext HTTP/2 with prior knowledge on Node), then once more over HTTP/1.1.
let emulator: RunloopEmulator.RunloopEmulator | undefined

describeConformance("runloop (emulated, HTTP/2)", emulatedLayer((started) => {
  emulator = started
}))

describeConformance("runloop (emulated, HTTP/1.1)", emulatedLayer((started) => {
  emulator = started
}, {}, { http2: false }))

// Every check cleans up after itself: nothing may be left in the emulator, nor listed, between checks.
afterEach(async () => {
  if (emulator === undefined) return
  expect(emulator.registry.ids()).toEqual([])
  const provider = makeProvider(await Effect.runPromise(RunloopProvider.make(emulatedOptions(emulator))))
  expect(await Effect.runPromise(provider.list())).toEqual([])
})
