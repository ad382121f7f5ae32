/**
 * The vitest binding: each conformance check becomes an `it.live` test (real clock: the checks sleep for real).
 *
 * ```ts
 * import { describeConformance } from "@sandkit/conformance/vitest"
 * describeConformance("local", LocalProvider.layer())
 * ```
 */
import { afterAll, describe, it } from "@effect/vitest"
import { Duration, Effect, type Layer, ManagedRuntime } from "effect"
import type { SandboxProvider } from "@sandkit/core"
import { conformanceChecks } from "./Checks.ts"
import { DEFAULT_CHECK_TIMEOUT, isSelected, runCheck, settingsFrom, type ConformanceOptions } from "./Runner.ts"

export type DescribeConformanceOptions = Omit<ConformanceOptions, "log">

/**
 * Register the suite inside `describe(name)`. The provider layer is built once for the whole `describe` (on the
 * first test) and released after the last one. Checks filtered out by `only` / `skip` are registered as skipped.
 */
export const describeConformance = <E>(
  name: string,
  layer: Layer.Layer<SandboxProvider, E>,
  options: DescribeConformanceOptions = {}
): void => {
  const settings = settingsFrom(options)
  const timeout = options.timeout ?? DEFAULT_CHECK_TIMEOUT
  // The runner's own limit interrupts the check (so its scope cleans up); vitest's limit is a backstop above it.
  const vitestTimeout = Duration.toMillis(Duration.fromInputUnsafe(timeout)) + 15_000
  describe(name, () => {
    const runtime = ManagedRuntime.make(layer)
    afterAll(() => runtime.dispose())
    for (const check of options.checks ?? conformanceChecks) {
      if (!isSelected(check, options)) {
        it.skip(check.name, () => {})
        continue
      }
      it.live(
        check.name,
        () => Effect.flatMap(runtime.contextEffect, (context) => Effect.provideContext(runCheck(check, settings, timeout), context)),
        vitestTimeout
      )
    }
  })
}
