/**
 * An offline Daytona: the control plane (`/api`), the socket.io event channel, every sandbox's toolbox (processes,
 * sessions with the follow-logs WebSocket, files incl. bulk transfers, info) and preview links on one local port,
 * in Daytona's wire protocol, so the official `@daytonaio/sdk` works against it unchanged. Commands and files really
 * run through the `@sandkit/local` engine. Fault knobs: the framework's (`faults`: latency, 429 + Retry-After,
 * 5xx, resets; `registry`: silent deletion) plus Daytona's own (start delay, start failures, quota "limit reached",
 * auto-stop, socket.io events on/off).
 *
 * ```ts
 * const emulator = yield* DaytonaEmulator.make()
 * const daytona = new Daytona({ ...emulator.sdkOptions })    // the real SDK, offline
 * ```
 */
import type { ProviderError, Unsupported } from "@sandkit/core"
import type { LocalProvider } from "@sandkit/local"
import { Effect, Exit, Redacted, Scope } from "effect"
import { Faults, type FailureSpec, type Random } from "../Faults.ts"
import { Registry } from "../Registry.ts"
import * as HttpServer from "../HttpServer.ts"
import { RequestLog } from "../RequestLog.ts"
import { onRemove, stopSandbox } from "./lifecycle.ts"
import { dispatcher, errorBody, upgrader } from "./routes.ts"
import { EventHub } from "./socketio.ts"
import type { DaytonaKnobs, DaytonaRegistry, DaytonaState, DaytonaStateName, World } from "./state.ts"
import { API_PREFIX, PREVIEW_PREFIX, TOOLBOX_PREFIX } from "./state.ts"

export type { SavedFile, SnapshotEntry } from "./snapshots.ts"
export type { CommandRecord, DaytonaSandbox, DaytonaState, DaytonaStateName, LogChunk, Session } from "./state.ts"
export { SANDBOX_STATES } from "./state.ts"
export { splitCommandLine } from "./toolbox.ts"
export { STDERR_MARKER, STDOUT_MARKER } from "./sessions.ts"
export { EventHub } from "./socketio.ts"

/** Route names, as used by `faults` and `log`. */
export const routes = {
  controlPlane: [
    "create", "list", "get", "delete", "start", "stop", "labels", "toolboxProxyUrl", "lastActivity",
    "autostop", "autoarchive", "autodelete", "autopause", "ttl", "previewUrl", "public", "socket.io",
    "snapshot", "snapshots.list", "snapshots.get", "snapshots.delete"
  ],
  toolbox: [
    "process.execute", "process.codeRun",
    "session.create", "session.list", "session.get", "session.delete", "session.exec", "session.command",
    "session.logs", "session.logs.follow", "session.input",
    "files.list", "files.info", "files.folder", "files.delete", "files.move", "files.download",
    "files.bulkUpload", "files.bulkDownload",
    "info.homeDir", "info.workDir", "info.version", "toolbox.unknown"
  ],
  other: ["preview", "unknown"]
} as const

export interface DaytonaEmulatorOptions {
  /** Accept only this API key (`Authorization: Bearer`); anything else gets 401. Default: any non-empty key. */
  readonly apiKey?: string
  /** How long `creating` / `starting` lasts before `started`, in ms. Default 0 (create answers `started`). */
  readonly startDelayMs?: number
  /** How long an emulated minute lasts, in ms (auto-stop, auto-archive, auto-delete, TTL). Default 60 000. */
  readonly minuteMs?: number
  /** Auto-stop interval (minutes) of a sandbox created without one. Default 15, Daytona's. */
  readonly defaultAutoStopMinutes?: number
  /** Page size of `GET /sandbox` when the client gives no `limit`. Default 100. */
  readonly pageSize?: number
  /** Snapshot names a create may name without any saved files (the account's base images). Default `["daytonaio/sandbox"]`. */
  readonly baseSnapshots?: ReadonlyArray<string>
  /** Serve the socket.io endpoint (default true). Off, the SDK falls back to polling and, undisposed, keeps retrying. */
  readonly socketIo?: boolean
  /** Options of the local engine that runs the commands (default: best isolation tier, a fresh temporary root). */
  readonly local?: LocalProvider.LocalOptions
  /** Random source for latency distributions. */
  readonly random?: Random
  /** Listen on this port of 127.0.0.1 instead of a random free one. */
  readonly port?: number
}

export interface DaytonaEmulator {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** What to pass as the SDK's `apiUrl` (or `DAYTONA_API_URL`): `<url>/api`. */
  readonly apiUrl: string
  /** Every record's `toolboxProxyUrl`. */
  readonly toolboxUrl: string
  /** Options for the raw SDK: `new Daytona({ ...emulator.sdkOptions })`. */
  readonly sdkOptions: { readonly apiKey: string; readonly apiUrl: string; readonly target: string }
  /** Options for the Sandkit adapter: `DaytonaProvider.layer(emulator.adapterOptions)` (the key `Redacted`). */
  readonly adapterOptions: { readonly apiKey: Redacted.Redacted<string>; readonly apiUrl: string; readonly target: string }
  /** A sandbox's home (its work dir), e.g. for the adapter's `workdir` option. */
  readonly homeOf: (id: string) => string
  /** The emulated sandboxes (sandbox-level framework knobs: silent deletion, quota). */
  readonly registry: DaytonaRegistry
  /** Request-level knobs: latency, failing / resetting the next N calls of a route. */
  readonly faults: Faults
  /** Every request received, by route. */
  readonly log: RequestLog
  /** The socket.io hub: connected clients, events sent. */
  readonly events: EventHub
  /** A sandbox's Daytona state, or `undefined` once it is gone. */
  readonly stateOf: (id: string) => DaytonaStateName | undefined
  /** `creating` / `starting` last `ms` from now on (0: create answers `started` at once). */
  readonly setStartDelay: (ms: number) => void
  /** The next `times` starts (create or start) end in `error` with `reason`. */
  readonly failNextStart: (reason: string, times?: number) => void
  /**
   * Daytona's quota error: creates past `maxSandboxes` live sandboxes are refused, by default with
   * `403 {"message":"… limit reached (N) …"}` (the SDK's `DaytonaAuthorizationError`). `undefined` lifts it.
   */
  readonly setQuota: (maxSandboxes: number | undefined, failure?: Partial<FailureSpec>) => void
  /** Push socket.io state events (default on); off, clients only learn by polling. */
  readonly setEvents: (on: boolean) => void
  /** Stop the sandbox behind the client's back, as its auto-stop interval would. */
  readonly autoStopNow: (id: string) => Promise<boolean>
  /** Background transitions (auto-stop, auto-delete) still running. */
  readonly settled: () => Promise<void>
  /** Destroy every sandbox, forget every knob and the log: a clean slate between tests. */
  readonly reset: () => Promise<void>
}

/** The quota error Daytona answers when an account limit is hit. */
export const quotaMessage = (max: number) => `Sandbox quota exceeded: limit reached (${max})`

/** Start the emulator in the current scope; closing the scope stops it and destroys every sandbox. */
/** Query parameters that carry credentials (preview keys, socket.io tokens) are never written to the request log. */
const SECRET_PARAMS = /([?&](?:DAYTONA_SANDBOX_AUTH_KEY|token)=)[^&]*/gi
const loggedPath = (path: string) => path.replace(SECRET_PARAMS, "$1<redacted>")

export const make = (options: DaytonaEmulatorOptions = {}): Effect.Effect<DaytonaEmulator, Unsupported | ProviderError, Scope.Scope> =>
  Effect.gen(function*() {
    const faults = new Faults(options.random)
    const log = new RequestLog()
    const hub = new EventHub({ token: options.apiKey })
    const knobs: DaytonaKnobs = { startDelayMs: options.startDelayMs ?? 0, failStarts: [], events: true }
    // The world is completed below (registry, base URL) before the server takes its first request.
    const world = {
      hub,
      knobs,
      baseUrl: "",
      apiKey: options.apiKey,
      minuteMs: options.minuteMs ?? 60_000,
      pageSize: options.pageSize ?? 100,
      defaultAutoStopMinutes: options.defaultAutoStopMinutes ?? 15,
      pending: new Set<Promise<unknown>>(),
      snapshots: new Map(),
      baseSnapshots: new Set(options.baseSnapshots ?? ["daytonaio/sandbox"])
    } as Omit<World, "registry"> as World
    const registry: DaytonaRegistry = yield* Registry.make<DaytonaState>(
      { ...(options.local === undefined ? {} : { local: options.local }) },
      { onRemove: (sandbox) => onRemove(world)(sandbox) }
    )
    ;(world as { registry: DaytonaRegistry }).registry = registry
    yield* Effect.addFinalizer(() => Effect.sync(() => hub.closeAll()))
    const server = yield* HttpServer.make({
      faults,
      log,
      errorBody,
      loggedPath,
      ...(options.port === undefined ? {} : { port: options.port }),
      dispatch: dispatcher(world),
      upgrade: upgrader(world, options.socketIo ?? true)
    })
    world.baseUrl = server.url
    const settled = async () => {
      while (world.pending.size > 0) await Promise.all([...world.pending])
    }
    const emulator: DaytonaEmulator = {
      url: server.url,
      port: server.port,
      apiUrl: `${server.url}${API_PREFIX}`,
      toolboxUrl: `${server.url}${TOOLBOX_PREFIX.slice(0, -1)}`,
      sdkOptions: { apiKey: options.apiKey ?? "dtn_emulator", apiUrl: `${server.url}${API_PREFIX}`, target: "local" },
      adapterOptions: {
        apiKey: Redacted.make(options.apiKey ?? "dtn_emulator"),
        apiUrl: `${server.url}${API_PREFIX}`,
        target: "local"
      },
      homeOf: (id) => {
        const sandbox = registry.get(id)
        if (sandbox === undefined) throw new Error(`no emulated sandbox ${id}`)
        return sandbox.home
      },
      registry,
      faults,
      log,
      events: hub,
      stateOf: (id) => registry.get(id)?.ext.state,
      setStartDelay: (ms) => {
        knobs.startDelayMs = Math.max(0, ms)
      },
      failNextStart: (reason, times = 1) => {
        for (let i = 0; i < times; i++) knobs.failStarts.push(reason)
      },
      setQuota: (max, failure) => {
        if (max === undefined) registry.setQuota(undefined)
        else registry.setQuota(max, { status: 403, message: quotaMessage(max), ...failure })
      },
      setEvents: (on) => {
        knobs.events = on
      },
      autoStopNow: async (id) => {
        const sandbox = registry.get(id)
        if (sandbox === undefined || sandbox.ext.state !== "started") return false
        await stopSandbox(world, sandbox, "auto-stop")
        return true
      },
      settled,
      reset: async () => {
        await settled()
        await Promise.all(registry.ids().map((id) => registry.destroy(id)))
        registry.clearKnobs()
        knobs.startDelayMs = options.startDelayMs ?? 0
        knobs.failStarts.length = 0
        knobs.events = true
        world.snapshots.clear()
        faults.clear()
        log.clear()
      }
    }
    return emulator
  })

/** The emulator without Effect: `const emulator = await DaytonaEmulator.start()`, then `await emulator.close()`. */
export const start = async (
  options: DaytonaEmulatorOptions = {}
): Promise<DaytonaEmulator & { readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(make(options).pipe(Scope.provide(scope)))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw new Error(`the Daytona emulator could not start: ${String(exit.cause)}`)
  }
  return { ...exit.value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** Path prefixes on the emulator's port. */
export const prefixes = { api: API_PREFIX, toolbox: TOOLBOX_PREFIX, preview: PREVIEW_PREFIX } as const
