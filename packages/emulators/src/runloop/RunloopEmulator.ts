/**
 * An offline Runloop. The devbox API (`/v1/devboxes…`) on one local port, spoken the way `@runloop/api-client`
 * expects it, over HTTP/1.1 and over cleartext HTTP/2 with prior knowledge (the SDK's default transport on Node), so
 * the official SDK works against it unchanged. Commands, files and tunnels really run through the `@sandkit/local`
 * engine; the fault knobs (`faults`, `registry`, `timing`) and the request log (`log`) drive tests.
 *
 * ```ts
 * const emulator = yield* RunloopEmulator.make()
 * const client = new Runloop({ ...emulator.sdkOptions })       // the real SDK, offline
 * ```
 */
import type { ProviderError, Unsupported } from "@sandkit/core"
import type { LocalProvider } from "@sandkit/local"
import { Effect, Exit, Redacted, Scope } from "effect"
import { Faults, type Random } from "../Faults.ts"
import { Registry } from "../Registry.ts"
import { RequestLog } from "../RequestLog.ts"
import type { Blueprint, Ctx, ResolvedOptions, Timing } from "./context.ts"
import { onRemove, shutdownDevbox, suspendDevbox } from "./devboxes.ts"
import { dispatcher, errorBody, Idempotency } from "./routes.ts"
import type { SnapshotRecord } from "./snapshots.ts"
import type { DevboxRegistry, DevboxState, Tombstone } from "./state.ts"
import * as Transport from "./transport.ts"
import { TUNNEL_PREFIX } from "./tunnels.ts"

export type { Blueprint, Timing } from "./context.ts"
export { completeUtf8, lastLines } from "./executions.ts"
export { routes } from "./routes.ts"
export type { Devbox, DevboxRegistry, DevboxState, DevboxStatus, Tombstone, TunnelView } from "./state.ts"
export { HOME_ALIAS } from "./state.ts"
export { TUNNEL_PREFIX } from "./tunnels.ts"

export interface RunloopEmulatorOptions {
  /** Accept only this bearer token (anything else gets 401). Default: any non-empty token. */
  readonly apiKey?: string
  /** Page size of the devbox and snapshot lists when the client gives no `limit`. Default 20. */
  readonly pageSize?: number
  /** How long the devbox spends in each transitional status. Default 0 ms each. */
  readonly timing?: Partial<Timing>
  /** How long `wait_for_status` (and `execute`'s optimistic wait) holds before answering. Default 25 000 ms. */
  readonly longPollMs?: number
  /** Cut every output stream after this long with a 408 `error` event (the SDK then reconnects). Default: never. */
  readonly streamCutMs?: number
  /** Bytes of each output stream an execution view carries at most. Default 1 MiB. */
  readonly outputLimitBytes?: number
  /** Blueprints `blueprint_name` / `blueprint_id` may name; any other is refused (400). Default none. */
  readonly blueprints?: ReadonlyArray<Blueprint>
  /** The shell commands run through. Default `bash`. */
  readonly shell?: string
  /** Default `keep_alive_time_seconds`. Default 3600 (Runloop's hour). */
  readonly keepAliveSeconds?: number
  /** Options of the local engine that runs the commands (default: best isolation tier, a fresh temporary root). */
  readonly local?: LocalProvider.LocalOptions
  /** Random source for latency distributions (inject a seeded one for reproducible draws). */
  readonly random?: Random
  /** Listen on this port of 127.0.0.1 instead of a random free one. */
  readonly port?: number
}

/** A plain URL reaching `port` through the tunnel `tunnelKey` names. */
export type TunnelUrl = (target: { readonly tunnelKey: string; readonly port: number }) => string

export interface RunloopEmulator {
  /** `http://127.0.0.1:<port>`: the base URL for the SDK (`baseURL`, or `RUNLOOP_BASE_URL`). */
  readonly url: string
  readonly port: number
  /** Options for the raw SDK: `new Runloop({ ...emulator.sdkOptions })`. */
  readonly sdkOptions: { readonly bearerToken: string; readonly baseURL: string }
  /**
   * Options for the Sandkit adapter: `RunloopProvider.layer(emulator.adapterOptions)` (the key `Redacted`, tunnels
   * reached through the emulator).
   */
  readonly adapterOptions: {
    readonly apiKey: Redacted.Redacted<string>
    readonly baseUrl: string
    readonly tunnelUrl: TunnelUrl
  }
  /** The live devboxes, with the sandbox-level knobs (quota, readiness delay, silent deletion). */
  readonly registry: DevboxRegistry
  /** Final views of devboxes that were shut down or failed (`retrieve` still answers with them). */
  readonly tombstones: ReadonlyMap<string, Tombstone>
  /** Disk snapshots by id. */
  readonly snapshots: ReadonlyMap<string, SnapshotRecord>
  /** Request-level knobs: latency, failing / resetting the next N calls of a route. */
  readonly faults: Faults
  /** Every request received, by route. */
  readonly log: RequestLog
  /** Time spent in transitional statuses, changeable at any time. */
  timing: Timing
  /** A devbox's home (its local workspace), for `RunloopProvider.layer({ home })`. */
  readonly homeOf: (devboxId: string) => string | undefined
  /** A plain URL reaching `port` through a devbox's tunnel (for `RunloopProvider.layer({ tunnelUrl })`). */
  readonly tunnelUrl: TunnelUrl
  /** Connections accepted so far, by protocol. */
  readonly connections: () => { readonly http1: number; readonly h2c: number }
  /** Requests received so far, by protocol: what the client spoke. */
  readonly requests: () => { readonly http1: number; readonly h2c: number }
  /** Requests answered from the `x-request-id` cache (retries that were not executed twice). */
  readonly replays: () => number
  /** Shut down every devbox, forget tombstones, snapshots, knobs and the log: a clean slate between tests. */
  readonly reset: () => Promise<void>
}

const defaultTiming: Timing = { provisioningMs: 0, initializingMs: 0, suspendingMs: 0, resumingMs: 0 }

/** Start the emulator in the current scope; closing the scope stops it and destroys every devbox. */
export const make = (options: RunloopEmulatorOptions = {}): Effect.Effect<RunloopEmulator, Unsupported | ProviderError, Scope.Scope> =>
  Effect.gen(function*() {
    const faults = new Faults(options.random)
    const log = new RequestLog()
    const idempotency = new Idempotency()
    const tombstones = new Map<string, Tombstone>()
    const snapshots = new Map<string, SnapshotRecord>()
    const resolved: ResolvedOptions = {
      apiKey: options.apiKey,
      pageSize: options.pageSize ?? 20,
      longPollMs: options.longPollMs ?? 25_000,
      streamCutMs: options.streamCutMs,
      outputLimitBytes: options.outputLimitBytes ?? 1024 * 1024,
      blueprints: options.blueprints ?? [],
      shell: options.shell ?? "bash",
      keepAliveSeconds: options.keepAliveSeconds ?? 3600
    }
    let ctx: Ctx | undefined
    const registry: DevboxRegistry = yield* Registry.make<DevboxState>(
      { idPrefix: "dbx_", ...(options.local === undefined ? {} : { local: options.local }) },
      { onRemove: (devbox, reason) => ctx === undefined ? Promise.resolve() : onRemove(ctx)(devbox, reason) }
    )
    const context: Ctx = {
      registry,
      tombstones,
      snapshots,
      options: resolved,
      timing: { ...defaultTiming, ...options.timing },
      lifecycle: {
        shutdown: (devbox, reason) => shutdownDevbox(context, devbox, reason),
        suspend: (devbox) => suspendDevbox(context, devbox)
      }
    }
    ctx = context
    const server = yield* Transport.make({
      faults,
      log,
      errorBody,
      port: options.port,
      dispatch: dispatcher(context, idempotency)
    })
    const tunnelUrl: TunnelUrl = ({ port, tunnelKey }) =>
      `${server.url}${TUNNEL_PREFIX}${tunnelKey}/${port}`
    const apiKey = options.apiKey ?? "rl_emulator"
    const emulator: RunloopEmulator = {
      url: server.url,
      port: server.port,
      sdkOptions: { bearerToken: apiKey, baseURL: server.url },
      adapterOptions: { apiKey: Redacted.make(apiKey), baseUrl: server.url, tunnelUrl },
      registry,
      tombstones,
      snapshots,
      faults,
      log,
      get timing() {
        return context.timing
      },
      set timing(value: Timing) {
        context.timing = { ...defaultTiming, ...value }
      },
      homeOf: (id) => registry.get(id)?.home,
      tunnelUrl,
      connections: server.connections,
      requests: server.requests,
      replays: () => idempotency.replays,
      reset: async () => {
        await Promise.all(registry.ids().map((id) => registry.destroy(id)))
        registry.clearKnobs()
        tombstones.clear()
        snapshots.clear()
        idempotency.clear()
        context.timing = { ...defaultTiming, ...options.timing }
        faults.clear()
        log.clear()
      }
    }
    return emulator
  })

/** The emulator without Effect: `const emulator = await RunloopEmulator.start()`, then `await emulator.close()`. */
export const start = async (
  options: RunloopEmulatorOptions = {}
): Promise<RunloopEmulator & { readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(make(options).pipe(Scope.provide(scope)))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw new Error(`the Runloop emulator could not start: ${String(exit.cause)}`)
  }
  return Object.assign(exit.value, { close: () => Effect.runPromise(Scope.close(scope, Exit.void)) })
}
