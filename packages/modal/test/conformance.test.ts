import { describeConformance } from "@sandkit/conformance/vitest"
import type { ModalEmulator } from "@sandkit/emulators/modal"
import { afterEach, expect } from "vitest"
import { emulatedLayer } from "./emulated.ts"

// The whole conformance suite through the real `modal` SDK, against the offline emulator.
let emulator: ModalEmulator.ModalEmulator | undefined

describeConformance("modal (emulated)", emulatedLayer((started) => {
  emulator = started
}))

// Every check cleans up after itself: nothing may be left in the emulator between checks.
afterEach(() => {
  if (emulator !== undefined) expect(emulator.registry.ids()).toEqual([])
})
