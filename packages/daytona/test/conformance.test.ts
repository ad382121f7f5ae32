import { describeConformance } from "@sandkit/conformance/vitest"
import type { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { afterEach, expect } from "vitest"
import { emulatedLayer } from "./emulated.ts"

// The whole conformance suite through the real `@daytonaio/sdk`, against the offline emulator.
let emulator: DaytonaEmulator.DaytonaEmulator | undefined

describeConformance("daytona (emulated)", emulatedLayer((started) => {
  emulator = started
}))

// Every check cleans up after itself: nothing may be left in the emulator between checks.
afterEach(async () => {
  if (emulator === undefined) return
  await emulator.settled()
  expect(emulator.registry.ids()).toEqual([])
})
