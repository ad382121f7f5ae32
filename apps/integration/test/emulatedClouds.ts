/**
 * Two emulated clouds for the cross-provider tests: E2B (has `runCode`, no snapshots) and Runloop (snapshots, no
 * `runCode`), each reached through its real adapter and official SDK. Also the small helpers those tests share: a
 * fast retry policy, a clock that can be moved forward while real time (and real sleeps) go on, and the after-test
 * check that nothing was left behind (`fastPolicy` and `failureOf` come from `@sandkit/emulators/testkit`).
 */
import type { SandboxProviderShape } from "@sandkit/core"
import { E2bProvider } from "@sandkit/e2b"
import { E2bEmulator } from "@sandkit/emulators/e2b"
import { RunloopEmulator } from "@sandkit/emulators/runloop"
import { RunloopProvider } from "@sandkit/runloop"
import { Clock, Context, Effect, Layer, Redacted } from "effect"

/** Recognisable fake keys: a test can search every output for them. */
export const E2B_KEY = "sk_test_SANDKIT_FAKE_e2b_5f1c9a"
export const RUNLOOP_KEY = "sk_test_SANDKIT_FAKE_runloop_7d2e4b"

export interface Clouds {
  readonly e2b: E2bEmulator.E2bEmulator
  readonly runloop: RunloopEmulator.RunloopEmulator
}

export class EmulatedClouds extends Context.Service<EmulatedClouds, Clouds>()("@sandkit/integration/test/EmulatedClouds") {}

/** Both emulators, started with the layer and stopped (every sandbox destroyed) when it is released. */
export const EmulatedCloudsLayer = Layer.effect(
  EmulatedClouds,
  Effect.all({
    e2b: E2bEmulator.make({ apiKey: E2B_KEY }),
    runloop: RunloopEmulator.make({ apiKey: RUNLOOP_KEY })
  }, { concurrency: "unbounded" })
)

/**
 * The E2B adapter over its emulator. The home is known in-process, so creates skip the envd probe; with
 * `knownHome: false` each create waits for envd (readiness polls) before it returns.
 */
export const e2bLayer = (clouds: Clouds, apiKey: string = E2B_KEY, options: { readonly knownHome?: boolean } = {}) =>
  E2bProvider.layer({
    ...clouds.e2b.adapterOptions,
    apiKey: Redacted.make(apiKey),
    ...(options.knownHome === false ? {} : { workdir: clouds.e2b.homeOf })
  })

/** The Runloop adapter over its emulator. */
export const runloopLayer = (clouds: Clouds) =>
  RunloopProvider.layer({
    apiKey: Redacted.make(RUNLOOP_KEY),
    baseUrl: clouds.runloop.url,
    tunnelUrl: clouds.runloop.tunnelUrl,
    home: clouds.runloop.homeOf
  })

/**
 * The real clock, plus an offset that `advance` moves forward. Breakers read time from `Clock`, so a test can open the
 * reset window without waiting, while retry sleeps and network I/O keep running in real time (a `TestClock` would
 * stall the retry schedule's sleeps).
 */
export const makeAdvancingClock = Effect.gen(function*() {
  const real = yield* Clock.Clock
  let offsetMs = 0
  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => real.currentTimeMillisUnsafe() + offsetMs,
    currentTimeMillis: Effect.sync(() => real.currentTimeMillisUnsafe() + offsetMs),
    currentTimeNanosUnsafe: () => real.currentTimeNanosUnsafe() + BigInt(offsetMs) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => real.currentTimeNanosUnsafe() + BigInt(offsetMs) * 1_000_000n),
    monotonicTimeNanosUnsafe: () => real.monotonicTimeNanosUnsafe() + BigInt(offsetMs) * 1_000_000n,
    monotonicTimeNanos: Effect.sync(() => real.monotonicTimeNanosUnsafe() + BigInt(offsetMs) * 1_000_000n),
    sleep: (duration) => real.sleep(duration)
  }
  return { clock, advance: (ms: number) => Effect.sync(() => void (offsetMs += ms)) }
})

/** After a test: no sandbox on either emulator nor in the composite's `list()`; knobs and logs reset. */
export const assertNothingLeft = (clouds: Clouds, composite?: SandboxProviderShape) =>
  Effect.gen(function*() {
    clouds.e2b.faults.clear()
    clouds.runloop.faults.clear()
    clouds.e2b.registry.clearKnobs()
    clouds.runloop.registry.clearKnobs()
    const leftOnE2b = clouds.e2b.registry.ids()
    const leftOnRunloop = clouds.runloop.registry.ids()
    const listed = composite === undefined ? [] : yield* composite.list()
    clouds.e2b.log.clear()
    clouds.runloop.log.clear()
    if (leftOnE2b.length + leftOnRunloop.length + listed.length > 0) {
      // Clean up for the next test, then fail this one.
      yield* Effect.promise(() => Promise.all([clouds.e2b.reset(), clouds.runloop.reset()]))
      return yield* Effect.die(new Error(
        `sandboxes left behind: e2b ${JSON.stringify(leftOnE2b)}, runloop ${JSON.stringify(leftOnRunloop)}, ` +
          `list() ${JSON.stringify(listed.map((s) => `${s.provider}:${s.id}`))}`
      ))
    }
  })
