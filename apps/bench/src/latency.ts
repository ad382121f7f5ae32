/**
 * Latency injection: a provider wrapper that adds a fixed delay to `create` (and `createDetached`), on any provider.
 * The harness self-check runs a provider against its own delayed twin; the reported create p50 of the twin must be
 * the provider's p50 plus the injected delay (±5 %), or the harness is distorting what it measures.
 *
 * It works on the `SandboxProvider` service, so it stays valid for the cloud adapters and their emulators; when an
 * emulator injects the latency on the wire instead (its own fault knob), the registry entry can use that and this
 * wrapper is not needed.
 */
import type { SandboxProviderShape } from "@sandkit/core"
import { Duration, Effect, Layer } from "effect"
import { SandboxProvider } from "@sandkit/core"

export interface InjectedLatency {
  /** Added before every `create` / `createDetached`. */
  readonly create: Duration.Input
}

export const injectLatency = (provider: SandboxProviderShape, latency: InjectedLatency): SandboxProviderShape => {
  const delay = Duration.fromInputUnsafe(latency.create)
  return {
    ...provider,
    create: (spec) => Effect.andThen(Effect.sleep(delay), provider.create(spec)),
    createDetached: (spec) => Effect.andThen(Effect.sleep(delay), provider.createDetached(spec))
  }
}

/** The same as a layer transformer: `LocalProvider.layer().pipe(withInjectedLatency({ create: "150 millis" }))`. */
export const withInjectedLatency = (latency: InjectedLatency) =>
<E, R>(layer: Layer.Layer<SandboxProvider, E, R>): Layer.Layer<SandboxProvider, E, R> =>
  Layer.effect(SandboxProvider, SandboxProvider.useSync((p) => injectLatency(p, latency))).pipe(
    Layer.provide(layer)
  )
