/**
 * Test helpers: the E2B provider pointed at an offline E2B emulator.
 */
import { E2bEmulator } from "@sandkit/emulators/e2b"
import { Effect, Layer } from "effect"
import { E2bProvider, type E2bProvider as P } from "../src/index.ts"

/** The provider options that point the adapter at `emulator`. */
export const emulatedOptions = (
  emulator: E2bEmulator.E2bEmulator,
  extra: Partial<P.E2bOptions> = {}
): P.E2bOptions => ({ ...emulator.adapterOptions, ...extra })

/**
 * A provider layer over a fresh emulator (started when the layer is built, stopped when it is released).
 * `onStart` sees the emulator, e.g. to check its registry after each test.
 */
export const emulatedLayer = (
  onStart: (emulator: E2bEmulator.E2bEmulator) => void = () => {},
  options: E2bEmulator.E2bEmulatorOptions = {}
) =>
  Layer.unwrap(Effect.map(E2bEmulator.make(options), (emulator) => {
    onStart(emulator)
    return E2bProvider.layer(emulatedOptions(emulator))
  }))
