/**
 * Test helpers: the Daytona provider pointed at an offline Daytona emulator.
 */
import { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { Effect, Layer } from "effect"
import { DaytonaProvider } from "../src/index.ts"

/** The provider options that point the adapter at `emulator`. */
export const emulatedOptions = (
  emulator: DaytonaEmulator.DaytonaEmulator,
  extra: Partial<DaytonaProvider.DaytonaOptions> = {}
): DaytonaProvider.DaytonaOptions => ({ ...emulator.adapterOptions, ...extra })

/**
 * A provider layer over a fresh emulator (started when the layer is built, stopped when it is released).
 * `onStart` sees the emulator, e.g. to check its registry after each test.
 */
export const emulatedLayer = (
  onStart: (emulator: DaytonaEmulator.DaytonaEmulator) => void = () => {},
  options: DaytonaEmulator.DaytonaEmulatorOptions = {},
  extra: Partial<DaytonaProvider.DaytonaOptions> = {}
) =>
  Layer.unwrap(Effect.map(DaytonaEmulator.make(options), (emulator) => {
    onStart(emulator)
    return DaytonaProvider.layer(emulatedOptions(emulator, extra))
  }))
