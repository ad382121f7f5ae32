/**
 * Test helpers: the Runloop provider pointed at an offline Runloop emulator.
 */
import { RunloopEmulator } from "@sandkit/emulators/runloop"
import { Effect, Layer } from "effect"
import { RunloopProvider } from "../src/index.ts"

/** The provider options that point the adapter at `emulator`. */
export const emulatedOptions = (
  emulator: RunloopEmulator.RunloopEmulator,
  extra: Partial<RunloopProvider.RunloopOptions> = {}
): RunloopProvider.RunloopOptions => ({ ...emulator.adapterOptions, ...extra })

/**
 * A provider layer over a fresh emulator (started when the layer is built, stopped when it is released).
 * `onStart` sees the emulator, e.g. to check its registry after each test.
 */
export const emulatedLayer = (
  onStart: (emulator: RunloopEmulator.RunloopEmulator) => void = () => {},
  options: RunloopEmulator.RunloopEmulatorOptions = {},
  extra: Partial<RunloopProvider.RunloopOptions> = {}
) =>
  Layer.unwrap(Effect.map(RunloopEmulator.make(options), (emulator) => {
    onStart(emulator)
    return RunloopProvider.layer(emulatedOptions(emulator, extra))
  }))
