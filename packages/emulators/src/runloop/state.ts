/**
 * What the Runloop emulator keeps per devbox besides the registry's common fields: the status machine
 * (provisioning → initializing → running ⇄ suspending → suspended → resuming → running; shutdown / failure are
 * terminal and leave a tombstone), metadata, launch parameters, the tunnel, the executions, and who is waiting for a
 * status. Plus the JSON views the SDK parses.
 */
import { posix } from "node:path"
import type { EmulatedSandbox, Registry } from "../Registry.ts"
import type { Execution } from "./executions.ts"

export type DevboxStatus =
  | "scheduled"
  | "queued"
  | "provisioning"
  | "initializing"
  | "running"
  | "suspending"
  | "suspended"
  | "resuming"
  | "failure"
  | "shutdown"

export const DEVBOX_STATUSES: ReadonlyArray<DevboxStatus> = [
  "scheduled",
  "queued",
  "provisioning",
  "initializing",
  "running",
  "suspending",
  "suspended",
  "resuming",
  "failure",
  "shutdown"
]

export type ShutdownReason = "api_shutdown" | "keep_alive_timeout" | "entrypoint_exit" | "idle" | "ttl_expired"
export type FailureReason = "out_of_memory" | "out_of_disk" | "execution_failed" | "health_check_failed"

export interface TunnelView {
  readonly tunnel_key: string
  readonly auth_mode: "open" | "authenticated"
  readonly auth_token?: string | null
  readonly create_time_ms: number
  readonly http_keep_alive: boolean
  readonly wake_on_http: boolean
}

export interface DevboxState {
  name: string | null
  status: DevboxStatus
  metadata: Record<string, string>
  readonly launchParameters: Record<string, unknown>
  readonly blueprintId: string | null
  readonly snapshotId: string | null
  readonly entrypoint: string | null
  readonly transitions: Array<{ readonly status: DevboxStatus; readonly transition_time_ms: number }>
  tunnel: TunnelView | null
  failureReason: FailureReason | null
  shutdownReason: ShutdownReason | null
  endTimeMs: number | null
  readonly executions: Map<string, Execution>
  /** Called on every status change (long polls waiting for a status). */
  readonly watchers: Set<() => void>
  /** Timers of pending transitions, cleared when the devbox goes away. */
  readonly timers: Set<ReturnType<typeof setTimeout>>
  /** The idle policy (`after_idle`), re-armed on activity. */
  idle: { readonly ms: number; readonly onIdle: "shutdown" | "suspend"; timer?: ReturnType<typeof setTimeout> | undefined } | undefined
  /** `keep_alive_time_seconds` in ms: the devbox shuts down this long after the last keep-alive. */
  readonly keepAliveMs: number
  /** Streams and long polls to end when the devbox goes away. */
  readonly open: Set<{ abort(): void }>
}

export type Devbox = EmulatedSandbox<DevboxState>
export type DevboxRegistry = Registry<DevboxState>

/** A devbox view frozen when the devbox left the registry: `retrieve` keeps answering with it. */
export type Tombstone = Record<string, unknown> & { readonly id: string; readonly status: DevboxStatus; readonly create_time_ms: number }

/** Runloop devboxes run as `user` with home `/home/user`; here the home is the local workspace and that prefix an alias. */
export const HOME_ALIAS = "/home/user"

/** A devbox path: relative to the home, `~` the home, `/home/user/…` the home's alias. */
export const resolvePath = (devbox: Devbox, path: string): string => {
  const home = devbox.home
  let p = path
  if (p === "" || p === "~") return home
  if (p.startsWith("~/")) p = posix.join(home, p.slice(2))
  else if (p === HOME_ALIAS || p.startsWith(HOME_ALIAS + "/")) p = home + p.slice(HOME_ALIAS.length)
  return posix.resolve(home, p)
}

export const makeState = (input: {
  readonly name: string | null
  readonly metadata: Record<string, string>
  readonly launchParameters: Record<string, unknown>
  readonly blueprintId: string | null
  readonly snapshotId: string | null
  readonly entrypoint: string | null
  readonly keepAliveMs: number
  readonly idle: DevboxState["idle"]
  readonly tunnel: TunnelView | null
}): DevboxState => ({
  name: input.name,
  status: "provisioning",
  metadata: input.metadata,
  launchParameters: input.launchParameters,
  blueprintId: input.blueprintId,
  snapshotId: input.snapshotId,
  entrypoint: input.entrypoint,
  transitions: [{ status: "provisioning", transition_time_ms: Date.now() }],
  tunnel: input.tunnel,
  failureReason: null,
  shutdownReason: null,
  endTimeMs: null,
  executions: new Map(),
  watchers: new Set(),
  timers: new Set(),
  idle: input.idle,
  keepAliveMs: input.keepAliveMs,
  open: new Set()
})

/** Move to `status`, record the transition and wake every waiter. */
export const setStatus = (devbox: Devbox, status: DevboxStatus): void => {
  const state = devbox.ext
  if (state.status === status) return
  state.status = status
  state.transitions.push({ status, transition_time_ms: Date.now() })
  for (const watcher of [...state.watchers]) watcher()
}

/** Run `f` after `ms` unless the devbox goes away first. */
export const later = (devbox: Devbox, ms: number, f: () => void): void => {
  const timer = setTimeout(() => {
    devbox.ext.timers.delete(timer)
    f()
  }, Math.max(0, ms))
  devbox.ext.timers.add(timer)
}

export const view = (devbox: Devbox): Tombstone => {
  const s = devbox.ext
  return {
    id: devbox.id,
    name: s.name,
    status: s.status,
    capabilities: [],
    create_time_ms: devbox.createdAt.getTime(),
    end_time_ms: s.endTimeMs,
    launch_parameters: s.launchParameters,
    metadata: { ...s.metadata },
    state_transitions: s.transitions.map((t) => ({ ...t })),
    blueprint_id: s.blueprintId,
    snapshot_id: s.snapshotId,
    failure_reason: s.failureReason,
    shutdown_reason: s.shutdownReason,
    initiator_type: "api",
    tunnel: s.tunnel === null ? null : { ...s.tunnel }
  }
}

export const randomToken = (bytes: number): string => {
  const data = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(data)
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("")
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

/** Runloop-shaped ids: `prefix_` + random alphanumerics. */
export const randomId = (prefix: string, length = 20): string => {
  const bytes = new Uint8Array(length)
  globalThis.crypto.getRandomValues(bytes)
  return `${prefix}_${Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join("")}`
}

export const asRecord = (u: unknown): Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) ? u as Record<string, unknown> : {}

/** A string→string map, or an error message. */
export const stringMap = (u: unknown, field: string): Record<string, string> | string => {
  if (u === undefined || u === null) return {}
  if (typeof u !== "object" || Array.isArray(u)) return `${field} must be an object of strings`
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(u as Record<string, unknown>)) {
    if (typeof v !== "string") return `${field}.${k} must be a string`
    out[k] = v
  }
  return out
}
