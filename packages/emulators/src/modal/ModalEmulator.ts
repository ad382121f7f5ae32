/**
 * An offline Modal. One plaintext gRPC server on 127.0.0.1 serves both the control plane
 * (`modal.client.ModalClient`) and the task command router (`modal.task_command_router.TaskCommandRouter`) in
 * Modal's wire protocol, so the official `modal` SDK (0.11.x) works against it unchanged: point `MODAL_SERVER_URL` at
 * `emulator.serverUrl` (`http://127.0.0.1:<port>`); the router URL it hands out is `https://127.0.0.1:<port>`,
 * which the SDK dials in plaintext because the control plane is on 127.0.0.1. Commands and files really run through
 * the `@sandkit/local` engine. The fault knobs (`faults`, `registry`) and the request log (`log`) know calls by
 * method name (`"SandboxCreateV2"`, `"TaskExecStart"`, …).
 *
 * ```ts
 * const emulator = yield* ModalEmulator.make()
 * // MODAL_SERVER_URL=emulator.serverUrl, MODAL_TOKEN_ID / MODAL_TOKEN_SECRET = emulator.credentials
 * ```
 *
 * Sandboxes run in the local engine's `process` tier by default: as in a Modal container, every exec of a sandbox
 * shares one process namespace (so a command can see and signal another exec's processes); the stronger local
 * tiers give each command its own. Pass `local: { isolation: "auto" }` to trade that for isolation.
 */
import type { ProviderError, Unsupported } from "@sandkit/core"
import type { LocalProvider } from "@sandkit/local"
import { Effect, Exit, Redacted, Scope } from "effect"
import { Faults, type Random } from "../Faults.ts"
import * as HttpServer from "../HttpServer.ts"
import { Registry } from "../Registry.ts"
import { RequestLog } from "../RequestLog.ts"
import { controlPlane } from "./controlPlane.ts"
import * as Grpc from "./grpc.ts"
import { portDispatcher } from "./ports.ts"
import { commandRouter } from "./router.ts"
import { COMMAND_ROUTER, CONTROL_PLANE, implementedMethods, methods } from "./schema.ts"
import { type ModalRegistry, type ModalState, resultFor, World } from "./state.ts"

export { Code, GenericStatus, implementedMethods } from "./schema.ts"
export type { GrpcLogEntry } from "./grpc.ts"
export { FS_TOOLS_PATH } from "./fsTools.ts"
export type { ModalRegistry, ModalSandbox, ModalState, Tombstone } from "./state.ts"

export interface ModalEmulatorOptions {
  /** Accept only this token id / secret (anything else is `UNAUTHENTICATED`). Default: any non-empty pair. */
  readonly tokenId?: string
  readonly tokenSecret?: string
  /** Reported by `EnvironmentGetOrCreate`. Default `"2024.10"`. */
  readonly imageBuilderVersion?: string
  /** Page size of `SandboxListV2`. Default 100. */
  readonly pageSize?: number
  /** Lifetime of the auth and router JWTs, in seconds. Default 3600. */
  readonly jwtLifetimeSecs?: number
  /** Options of the local engine (default: the `process` tier, a fresh temporary root). */
  readonly local?: LocalProvider.LocalOptions
  /** Random source for latency distributions. */
  readonly random?: Random
  /** Listen on this port of 127.0.0.1 (gRPC) instead of a random free one. */
  readonly port?: number
}

export interface ModalEmulator {
  /** `http://127.0.0.1:<port>`: what `MODAL_SERVER_URL` must be. */
  readonly serverUrl: string
  readonly port: number
  /** `https://127.0.0.1:<port>`: the command router URL handed to the SDK (served in plaintext on the same port). */
  readonly routerUrl: string
  /** `http://127.0.0.1:<port>` of the connect-token proxy. */
  readonly proxyUrl: string
  /** Credentials the emulator accepts. */
  readonly credentials: { readonly tokenId: string; readonly tokenSecret: string }
  /** Options for the Sandkit adapter: `ModalProvider.layer(emulator.adapterOptions)` (the tokens `Redacted`). */
  readonly adapterOptions: {
    readonly tokenId: Redacted.Redacted<string>
    readonly tokenSecret: Redacted.Redacted<string>
    readonly serverUrl: string
  }
  /** The environment for a raw SDK client (set before `new ModalClient()`; see the SDK's profile rules). */
  readonly sdkEnv: Readonly<Record<string, string>>
  /** The emulated sandboxes, with the sandbox-level knobs (quota, readiness delay, silent deletion, lifetime). */
  readonly registry: ModalRegistry
  /** Apps, images, finished sandboxes. */
  readonly world: World
  /** Request-level knobs by method name: latency, failing (gRPC status, throttling) or resetting the next N calls. */
  readonly faults: Faults
  /** Every call received, by method name (unimplemented ones included). */
  readonly log: RequestLog
  /** The calls of `method`, with the gRPC status each got (`grpcCode`). */
  readonly calls: (method: string) => ReadonlyArray<Grpc.GrpcLogEntry>
  /** Paths called that the emulator does not implement (each answered `UNIMPLEMENTED`). */
  readonly unimplemented: ReadonlyArray<string>
  /** Destroy every sandbox, forget finished ones, every knob and the log: a clean slate between tests. */
  readonly reset: () => Promise<void>
}

/**
 * Knob helpers in gRPC terms, over `faults`: `UNAVAILABLE` bursts, `RESOURCE_EXHAUSTED`, and Modal's throttling
 * (`RESOURCE_EXHAUSTED` carrying an `RPCRetryPolicy` with `retryAfterSecs`).
 */
export const grpcFaults = (faults: Faults) => ({
  unavailableNext: (method: string, times = 1, message = "service unavailable") =>
    faults.failNext(method, { status: 503, times, message, headers: { "grpc-status": "14" } }),
  resourceExhaustedNext: (method: string, times = 1, message = "resource exhausted") =>
    faults.failNext(method, { status: 429, times, message, headers: { "grpc-status": "8" } }),
  throttleNext: (method: string, retryAfterSecs: number, times = 1, message = "rate limit exceeded, please retry later") =>
    faults.failNext(method, { status: 429, times, message, retryAfter: retryAfterSecs, headers: { "grpc-status": "8" } })
})

/** Start the emulator in the current scope; closing the scope stops it and destroys every sandbox. */
export const make = (options: ModalEmulatorOptions = {}): Effect.Effect<ModalEmulator, Unsupported | ProviderError, Scope.Scope> =>
  Effect.gen(function*() {
    const faults = new Faults(options.random)
    const log = new RequestLog()
    const world = new World()
    const unimplemented: Array<string> = []
    const registry: ModalRegistry = yield* Registry.make<ModalState>(
      { local: { isolation: "process", ...options.local }, idPrefix: "sb-v2-" },
      {
        onRemove: async (sandbox, reason) => {
          const state = sandbox.ext
          world.tombstones.set(sandbox.id, {
            id: sandbox.id,
            appId: state.appId,
            name: state.name,
            createdAt: state.createdAt,
            result: state.result ?? resultFor(reason)
          })
          for (const record of state.execs.values()) record.abandon(`the sandbox ended (${reason})`)
          world.wake(sandbox.id)
          await Promise.all([...state.execs.values()].map((record) => record.stop?.().catch(() => undefined)))
          state.execs.clear()
        }
      }
    )
    let grpcPort = 0
    let proxyPort = 0
    const credentials = { tokenId: options.tokenId ?? "ak-emulator", tokenSecret: options.tokenSecret ?? "as-emulator" }
    const handlers = new Map([
      ...controlPlane(registry, world, {
        tokenId: options.tokenId,
        tokenSecret: options.tokenSecret,
        imageBuilderVersion: options.imageBuilderVersion ?? "2024.10",
        pageSize: options.pageSize ?? 100,
        jwtLifetimeSecs: options.jwtLifetimeSecs ?? 3600,
        routerUrl: () => `https://127.0.0.1:${grpcPort}`,
        proxyUrl: () => `http://127.0.0.1:${proxyPort}`
      }),
      ...commandRouter(registry, world)
    ])
    const served = new Map(
      [...methods].flatMap(([path, schema]) => {
        const handler = handlers.get(schema.name)
        return handler === undefined ? [] : [[path, { schema, handler }] as const]
      })
    )
    const proxy = yield* HttpServer.make({ faults, log, dispatch: portDispatcher(registry) })
    proxyPort = proxy.port
    const server = yield* Grpc.make({
      faults,
      log,
      methods: served,
      ...(options.port === undefined ? {} : { port: options.port }),
      sandboxIdOf: (_method, request) => {
        const start = request["start"]
        const taskId = typeof request["taskId"] === "string"
          ? request["taskId"]
          : typeof start === "object" && start !== null ? (start as Record<string, unknown>)["taskId"] : undefined
        if (typeof taskId === "string" && taskId !== "") return world.tasks.get(taskId)
        return typeof request["sandboxId"] === "string" && request["sandboxId"] !== "" ? request["sandboxId"] : undefined
      },
      onUnimplemented: (path) => void unimplemented.push(path)
    })
    grpcPort = server.port
    const serverUrl = `http://127.0.0.1:${server.port}`
    const emulator: ModalEmulator = {
      serverUrl,
      port: server.port,
      routerUrl: `https://127.0.0.1:${server.port}`,
      proxyUrl: proxy.url,
      credentials,
      adapterOptions: { tokenId: Redacted.make(credentials.tokenId), tokenSecret: Redacted.make(credentials.tokenSecret), serverUrl },
      sdkEnv: { MODAL_SERVER_URL: serverUrl, MODAL_TOKEN_ID: credentials.tokenId, MODAL_TOKEN_SECRET: credentials.tokenSecret },
      registry,
      world,
      faults,
      log,
      calls: (method) => log.entries(method) as ReadonlyArray<Grpc.GrpcLogEntry>,
      unimplemented,
      reset: async () => {
        await Promise.all(registry.ids().map((id) => registry.destroy(id)))
        registry.clearKnobs()
        world.clear()
        faults.clear()
        log.clear()
        unimplemented.length = 0
      }
    }
    return emulator
  })

/** The emulator without Effect: `const emulator = await ModalEmulator.start()`, then `await emulator.close()`. */
export const start = async (options: ModalEmulatorOptions = {}): Promise<ModalEmulator & { readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(make(options).pipe(Scope.provide(scope)))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw new Error(`the Modal emulator could not start: ${String(exit.cause)}`)
  }
  return { ...exit.value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** The gRPC services served on the one port. */
export const services = { controlPlane: CONTROL_PLANE, commandRouter: COMMAND_ROUTER } as const

/** Route names (method names) the emulator implements. */
export const routes = implementedMethods
