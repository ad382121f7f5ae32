import { describeConformance } from "@sandkit/conformance/vitest"
import type { E2bEmulator } from "@sandkit/emulators/e2b"
import { afterEach, expect } from "vitest"
import { emulatedLayer } from "./emulated.ts"

// The whole conformance suite through the real `e2b` / `@e2b/code-interpreter` SDKs, against the offline emulator.
let emulator: E2bEmulator.E2bEmulator | undefined

describeConformance("e2b (emulated)", emulatedLayer((started) => {
  emulator = started
}))

// Every check cleans up after itself: nothing may be left in the emulator between checks.
afterEach(() => {
  if (emulator !== undefined) expect(emulator.registry.ids()).toEqual([])
})
