/**
 * Spans and metrics for every provider operation, through Effect's tracing and metric APIs (export them with
 * `@effect/opentelemetry`). Attributes carry the provider, operation, sandbox id and outcome, never an input value:
 * env, commands, file contents and keys stay out of telemetry.
 */
import { Effect, Metric } from "effect"
import type { SandboxError } from "./SandboxError.ts"

/** Sandboxes created, by provider. */
export const sandboxesCreated = Metric.counter("sandkit.sandboxes.created", {
  description: "Sandboxes created",
  incremental: true
})

/** Failed operations, by provider, operation and error tag. */
export const operationFailures = Metric.counter("sandkit.operation.failures", {
  description: "Failed sandbox operations, by error tag",
  incremental: true
})

/** Retries made by the `transient` schedule, by provider and operation. */
export const operationRetries = Metric.counter("sandkit.operation.retries", {
  description: "Retries of sandbox operations",
  incremental: true
})

/** Latency of each operation in milliseconds, by provider, operation and outcome. */
export const operationDuration = Metric.histogram("sandkit.operation.duration", {
  description: "Sandbox operation latency in milliseconds",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 2, count: 18 })
})

export interface OperationContext {
  readonly provider: string
  readonly operation: string
  readonly sandboxId?: string | undefined
}

/** Run `effect` as a span named `sandkit.<operation>` and record its latency and outcome. */
export const instrument = <A, E extends SandboxError, R>(
  context: OperationContext,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const attributes = {
    "sandkit.provider": context.provider,
    "sandkit.operation": context.operation,
    ...(context.sandboxId === undefined ? {} : { "sandkit.sandbox": context.sandboxId })
  }
  return Effect.suspend(() => {
    const started = performance.now()
    const record = (outcome: string) =>
      Metric.update(
        Metric.withAttributes(operationDuration, {
          provider: context.provider,
          operation: context.operation,
          outcome
        }),
        performance.now() - started
      )
    return effect.pipe(
      Effect.tap(() => Effect.andThen(record("success"), Effect.annotateCurrentSpan("sandkit.outcome", "success"))),
      Effect.tapError((error) =>
        Effect.all([
          record(error._tag),
          Metric.update(
            Metric.withAttributes(operationFailures, {
              provider: context.provider,
              operation: context.operation,
              error: error._tag
            }),
            1
          ),
          Effect.annotateCurrentSpan("sandkit.outcome", error._tag)
        ], { discard: true })
      ),
      Effect.withSpan(`sandkit.${context.operation}`, { attributes })
    )
  })
}

/** Count one retry of `operation`. */
export const countRetry = (context: OperationContext) =>
  Metric.update(Metric.withAttributes(operationRetries, { provider: context.provider, operation: context.operation }), 1)
