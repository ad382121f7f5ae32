/**
 * What the Daytona emulator keeps per sandbox besides the registry's common fields (the Daytona record: state,
 * labels, intervals; the toolbox sessions; the timers), the emulator-wide "world" the handlers share, and the
 * JSON shapes the SDK reads (sandbox record, list item, daemon `FileInfo`-style errors).
 */
import type { SandboxProcess } from "@sandkit/core"
import type { Scope } from "effect"
import type { EmulatedSandbox, Registry } from "../Registry.ts"
import type { SnapshotEntry } from "./snapshots.ts"
import type { EventHub } from "./socketio.ts"

/** Daytona's sandbox states (the SDK's `SandboxState`). */
export type DaytonaStateName =
  | "creating"
  | "restoring"
  | "destroyed"
  | "destroying"
  | "started"
  | "stopped"
  | "starting"
  | "stopping"
  | "error"
  | "build_failed"
  | "pending_build"
  | "building_snapshot"
  | "pulling_snapshot"
  | "unknown"
  | "archived"
  | "archiving"
  | "resizing"
  | "snapshotting"
  | "forking"
  | "pausing"
  | "paused"
  | "resuming"

export const SANDBOX_STATES: ReadonlyArray<DaytonaStateName> = [
  "creating", "restoring", "destroyed", "destroying", "started", "stopped", "starting", "stopping", "error",
  "build_failed", "pending_build", "building_snapshot", "pulling_snapshot", "unknown", "archived", "archiving",
  "resizing", "snapshotting", "forking", "pausing", "paused", "resuming"
]

/** One chunk of a session command's output: 1 = stdout, 2 = stderr. */
export interface LogChunk {
  readonly stream: 1 | 2
  readonly data: Uint8Array
}

export interface CommandRecord {
  readonly id: string
  readonly command: string
  exitCode: number | undefined
  readonly logs: Array<LogChunk>
  readonly process: SandboxProcess
  readonly scope: Scope.Closeable
  /** Live followers (WebSocket log streams): a chunk, or `undefined` once the command has ended. */
  readonly followers: Set<(chunk: LogChunk | undefined) => void>
  /** Resolves once the command has ended and its exit code is known. */
  readonly done: Promise<void>
}

export interface Session {
  readonly id: string
  readonly commands: Map<string, CommandRecord>
}

export interface DaytonaTimers {
  transition?: ReturnType<typeof setTimeout> | undefined
  autoStop?: ReturnType<typeof setTimeout> | undefined
  autoArchive?: ReturnType<typeof setTimeout> | undefined
  autoDelete?: ReturnType<typeof setTimeout> | undefined
  ttl?: ReturnType<typeof setTimeout> | undefined
}

export interface DaytonaState {
  readonly name: string
  labels: Record<string, string>
  readonly snapshot: string | undefined
  readonly user: string
  readonly target: string
  public: boolean
  readonly cpu: number
  readonly gpu: number
  readonly memory: number
  readonly disk: number
  readonly networkBlockAll: boolean
  readonly buildInfo: unknown
  state: DaytonaStateName
  desiredState: DaytonaStateName
  errorReason: string | undefined
  /** Minutes; 0 disables. */
  autoStopInterval: number
  /** Minutes; 0 means the maximum (as in Daytona). */
  autoArchiveInterval: number
  /** Minutes; negative disables, 0 deletes as soon as stopped. */
  autoDeleteInterval: number
  autoDestroyAt: Date | undefined
  updatedAt: Date
  lastActivityAt: Date
  /** The token of every preview link (and of the WebSocket query auth). */
  readonly previewToken: string
  readonly sessions: Map<string, Session>
  readonly timers: DaytonaTimers
  /** Why the sandbox last stopped on its own (`auto-stop`, `knob`), for tests. */
  stoppedBy: string | undefined
}

export type DaytonaSandbox = EmulatedSandbox<DaytonaState>
export type DaytonaRegistry = Registry<DaytonaState>

/** Fault knobs specific to Daytona (request-level knobs stay on `Faults`). */
export interface DaytonaKnobs {
  /** How long `creating`/`starting` lasts before `started`. */
  startDelayMs: number
  /** The next starts end in `error` with these reasons instead (consumed one per start). */
  readonly failStarts: Array<string>
  /** Push state events over socket.io (off: clients only learn by polling). */
  events: boolean
}

/** Everything the handlers share. */
export interface World {
  readonly registry: DaytonaRegistry
  readonly hub: EventHub
  readonly knobs: DaytonaKnobs
  /** `http://127.0.0.1:<port>`, known once the server listens. */
  baseUrl: string
  readonly apiKey: string | undefined
  /** How many milliseconds an emulated minute lasts (auto-stop, auto-archive, auto-delete, TTL). */
  readonly minuteMs: number
  readonly pageSize: number
  readonly defaultAutoStopMinutes: number
  /** Sandboxes being started or stopped on their own schedule, so `reset` can wait for them. */
  readonly pending: Set<Promise<unknown>>
  /** Snapshots taken of sandboxes, by id. */
  readonly snapshots: Map<string, SnapshotEntry>
  /** Snapshot names a create may name without files (the account's base images). */
  readonly baseSnapshots: ReadonlySet<string>
}

export const API_PREFIX = "/api"
export const TOOLBOX_PREFIX = "/toolbox/"
export const PREVIEW_PREFIX = "/preview/"
export const ORGANIZATION_ID = "emulated-organization"
export const DEFAULT_USER = "daytona"
export const DAEMON_VERSION = "0.218.0-emulated"

export const randomToken = (bytes: number): string => {
  const data = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(data)
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("")
}

export const toolboxProxyUrl = (world: World) => `${world.baseUrl}${TOOLBOX_PREFIX.slice(0, -1)}`

const listFields = (world: World, sandbox: DaytonaSandbox) => {
  const s = sandbox.ext
  return {
    id: sandbox.id,
    name: s.name,
    organizationId: ORGANIZATION_ID,
    ...(s.snapshot === undefined ? {} : { snapshot: s.snapshot }),
    user: s.user,
    labels: { ...s.labels },
    public: s.public,
    target: s.target,
    cpu: s.cpu,
    gpu: s.gpu,
    memory: s.memory,
    disk: s.disk,
    state: s.state,
    desiredState: s.desiredState,
    ...(s.errorReason === undefined ? {} : { errorReason: s.errorReason }),
    recoverable: false,
    backupState: "None",
    autoStopInterval: s.autoStopInterval,
    autoArchiveInterval: s.autoArchiveInterval,
    autoDeleteInterval: s.autoDeleteInterval,
    ...(s.autoDestroyAt === undefined ? {} : { autoDestroyAt: s.autoDestroyAt.toISOString() }),
    createdAt: sandbox.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    lastActivityAt: s.lastActivityAt.toISOString(),
    daemonVersion: DAEMON_VERSION,
    toolboxProxyUrl: toolboxProxyUrl(world)
  }
}

/** The full sandbox record (`GET /sandbox/{id}`, create, start, delete replies, events). */
export const toRecord = (world: World, sandbox: DaytonaSandbox): Record<string, unknown> => ({
  ...listFields(world, sandbox),
  env: { ...sandbox.env },
  volumes: [],
  networkBlockAll: sandbox.ext.networkBlockAll,
  ...(sandbox.ext.buildInfo === undefined ? {} : { buildInfo: sandbox.ext.buildInfo })
})

/** A list item: the record without `env` and the other detail-only fields. */
export const toListItem = (world: World, sandbox: DaytonaSandbox): Record<string, unknown> => listFields(world, sandbox)

/** The control plane's (NestJS-style) error body. */
export const apiError = (status: number, message: string): Record<string, unknown> => ({
  statusCode: status,
  message,
  error: statusText(status)
})

/** The daemon's error body (`ErrorResponse`), with a `DaemonErrorCode` when one applies. */
export const daemonError = (status: number, message: string, path: string, code?: string): Record<string, unknown> => ({
  statusCode: status,
  message,
  ...(code === undefined ? {} : { code }),
  source: "DAYTONA_DAEMON",
  path,
  timestamp: new Date().toISOString()
})

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable"
}

export const statusText = (status: number): string => STATUS_TEXT[status] ?? "Error"

/** An unref'd timer (emulator timers never keep a process alive). */
export const timer = (ms: number, f: () => void): ReturnType<typeof setTimeout> => {
  const t = setTimeout(f, Math.min(Math.max(0, ms), 2 ** 31 - 1))
  ;(t as { unref?: () => void }).unref?.()
  return t
}
