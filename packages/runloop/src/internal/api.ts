/**
 * One SDK call as an Effect: the call gets the fiber's abort signal (interrupting the fiber aborts the request) and
 * the configured time limit; whatever it throws becomes a tagged core error. Plus the few multi-request patterns:
 * every page of a list, and the execution long poll (`wait_for_status` answered 408 → ask again at once).
 */
import type { Runloop } from "@runloop/api-client"
import { ProviderUnavailable, type SandboxError } from "@sandkit/core"
import { Effect } from "effect"
import type { ResolvedConfig } from "./config.ts"
import { fromSdkError, PROVIDER } from "./errors.ts"

export type DevboxView = Runloop.DevboxView
export type ExecutionView = Runloop.DevboxAsyncExecutionDetailView
export type TunnelView = Runloop.TunnelView
export type CreateParams = Runloop.DevboxCreateParams
export type SnapshotView = Runloop.DevboxSnapshotView
export type DevboxStatus = DevboxView["status"]

/** Per-request options every call passes to the SDK. */
export interface CallOptions {
  readonly signal: AbortSignal
  readonly timeout: number
  readonly maxRetries: 0
}

/** The whole-call deadline fired (the SDK's own limit only covers the wait for the answer's headers). */
class DeadlineExceeded extends Error {}

/**
 * The SDK's own time limit ends when the answer's headers arrive; a body that stops half way (a cut HTTP/1.1
 * connection under node-fetch) would be waited for forever. So the whole call has a deadline too, an abort signal
 * beside the fiber's: `timeoutMs` (default: the request timeout), `longPoll` for calls the server holds up to ~30 s,
 * `transfer` for file bodies and snapshots, or none for streams that last as long as a command runs.
 */
export const call = <A>(
  config: ResolvedConfig,
  operation: string,
  sandboxId: string | undefined,
  f: (client: Runloop, options: CallOptions) => PromiseLike<A>,
  deadline: { readonly timeoutMs: number | undefined } = { timeoutMs: config.requestTimeoutMs }
): Effect.Effect<A, SandboxError> => {
  const timeout = deadline.timeoutMs ?? config.requestTimeoutMs
  return Effect.tryPromise({
    try: async (signal) => {
      // Our own timer, cleared when the call ends: an `AbortSignal.timeout` keeps Deno's event loop alive until it
      // fires (up to 10 minutes for transfers), so a finished program would not exit.
      const limit = deadline.timeoutMs === undefined ? undefined : new AbortController()
      const timer = limit === undefined ? undefined : setTimeout(() => limit.abort(), deadline.timeoutMs)
      try {
        return await f(config.client, { signal: limit === undefined ? signal : AbortSignal.any([signal, limit.signal]), timeout, maxRetries: 0 })
      } catch (error) {
        throw limit?.signal.aborted === true && !signal.aborted ? new DeadlineExceeded() : error
      } finally {
        if (timer !== undefined) clearTimeout(timer)
      }
    },
    catch: (error) =>
      error instanceof DeadlineExceeded
        ? new ProviderUnavailable({ provider: PROVIDER, sandboxId, message: `runloop ${operation}: no complete answer within ${deadline.timeoutMs} ms` })
        : fromSdkError(error, { operation, sandboxId, secrets: config.secrets })
  })
}

/** For calls the server holds (up to 25-30 s): whatever the request timeout, long enough for the hold. */
export const longPoll = (config: ResolvedConfig) => ({ timeoutMs: Math.max(config.requestTimeoutMs, 40_000) })

/** For file bodies and disk snapshots, which may take minutes. */
export const transfer = (config: ResolvedConfig) => ({ timeoutMs: Math.max(config.requestTimeoutMs, 600_000) })

/** A server-side timeout of a long poll: ask again. */
export const isLongPollTimeout = (error: SandboxError): boolean => error._tag === "ProviderUnavailable" && error.status === 408

/** Every devbox with this status, following `starting_after` pages. */
export const listByStatus = (config: ResolvedConfig, status: DevboxStatus): Effect.Effect<ReadonlyArray<DevboxView>, SandboxError> =>
  call(config, "list", undefined, async (client, options) => {
    const all: Array<DevboxView> = []
    for await (const devbox of client.devboxes.list({ status, include_total_count: false }, options)) all.push(devbox)
    return all
  })

/** Long-poll the execution until it has completed (each poll held server-side up to 25 s). */
export const awaitCompleted = (config: ResolvedConfig, devboxId: string, execution: ExecutionView): Effect.Effect<ExecutionView, SandboxError> => {
  if (execution.status === "completed") return Effect.succeed(execution)
  const poll: Effect.Effect<ExecutionView, SandboxError> = call(config, "exec", devboxId, (client, options) =>
    client.devboxes.waitForCommand(devboxId, execution.execution_id, { statuses: ["completed"], timeout_seconds: 25 }, options), longPoll(config)).pipe(
      Effect.catchIf(isLongPollTimeout, () => Effect.succeed(execution))
    )
  return poll.pipe(Effect.repeat({ until: (view) => view.status === "completed" }))
}
