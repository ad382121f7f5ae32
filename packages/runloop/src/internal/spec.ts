/**
 * `SandboxSpec` → Runloop create request, and devbox view → `SandboxInfo`. Pure, so bad input is refused before
 * any request leaves the machine.
 *
 * - `image` / `template` → `blueprint_name`, or `blueprint_id` for a `bpt_…` id; `from` → `snapshot_id`.
 * - `size` → `resource_size_request` (small SMALL, medium MEDIUM, large LARGE, xlarge X_LARGE); the OpenHands
 *   profile asks for LARGE when the spec names no size; `resources` → `CUSTOM_SIZE`, rounded up to what Runloop
 *   accepts (cpu 0.5, 1 or even up to 16; memory 1 or even GiB up to 64, cpu:memory between 1:2 and 1:8; disk even
 *   GiB from 2 to 64).
 * - `lifetime.maxLifetime` → `keep_alive_time_seconds` (≤ 48 h); `idleTimeout` → `after_idle` (shutdown). Runloop
 *   ignores the first when the second is set, so both together are `Unsupported`.
 * - `labels` → `metadata`; `cwd` → metadata `sandkit.cwd` (created when the devbox is opened); `env` →
 *   `environment_variables`; `name` → the devbox name.
 */
import type { ResolvedSpec, SandboxInfo, SandboxSpecInput, SandboxState, SizeName } from "@sandkit/core"
import { InvalidRequest, toMillis, Unsupported, joinSandboxPath } from "@sandkit/core"
import { Effect } from "effect"
import type { CreateParams, DevboxStatus, DevboxView } from "./api.ts"
import { PROVIDER } from "./errors.ts"

/** Metadata keys the adapter keeps for itself (never shown as labels). */
export const CWD_KEY = "sandkit.cwd"
/** The create request's idempotency key, so a devbox whose every create answer was lost can still be found. */
export const CREATE_KEY = "sandkit.create"

/** Runloop devboxes' user home (what `list` reports as the workdir: it does not ask each devbox). */
export const DEFAULT_HOME = "/home/user"

export const SIZES: Readonly<Record<SizeName, string>> = { small: "SMALL", medium: "MEDIUM", large: "LARGE", xlarge: "X_LARGE" }

const MAX_KEEP_ALIVE_SECONDS = 172_800

/** POSIX single quotes. */
export const quote = (arg: string): string => /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`

const invalid = (message: string) => new InvalidRequest({ provider: PROVIDER, field: "spec", message })

/** Runloop's CUSTOM_SIZE grid: cpu 0.5, 1, then even; memory 1, then even GiB. */
const roundCpu = (cpu: number) => (cpu <= 0.5 ? 0.5 : cpu <= 1 ? 1 : Math.ceil(cpu / 2) * 2)
const roundMemory = (gib: number) => (gib <= 1 ? 1 : Math.ceil(gib / 2) * 2)

/** Explicit resources as a `CUSTOM_SIZE` request, or why Runloop cannot give them. */
export const customSize = (resources: NonNullable<ResolvedSpec["resources"]>): Record<string, number | string> | string => {
  let memory = resources.memoryMiB === undefined ? undefined : roundMemory(resources.memoryMiB / 1024)
  let cpu = resources.cpu === undefined ? undefined : roundCpu(resources.cpu)
  if (cpu === undefined && memory === undefined) {
    cpu = 1
    memory = 2
  }
  cpu ??= roundCpu(memory! / 8)
  memory ??= roundMemory(cpu * 2)
  if (memory / cpu < 2) memory = roundMemory(cpu * 2)
  if (memory / cpu > 8) cpu = roundCpu(memory / 8)
  if (cpu > 16) return `Runloop devboxes have at most 16 CPU cores (asked for ${resources.cpu})`
  if (memory > 64) return `Runloop devboxes have at most 64 GiB of memory (asked for ${memory} GiB)`
  const out: Record<string, number | string> = { resource_size_request: "CUSTOM_SIZE", custom_cpu_cores: cpu, custom_gb_memory: memory }
  if (resources.diskGiB !== undefined) {
    const disk = Math.max(2, Math.ceil(resources.diskGiB / 2) * 2)
    if (disk > 64) return `Runloop devboxes have at most 64 GiB of disk (asked for ${resources.diskGiB} GiB)`
    out["custom_disk_size"] = disk
  }
  return out
}

export interface SpecDefaults {
  readonly profile: "default" | "openhands"
  readonly blueprint: string | undefined
}

/** The create request for a spec (validated by core already), or the typed reason it cannot be made. */
export const createParams = (spec: ResolvedSpec, defaults: SpecDefaults): Effect.Effect<CreateParams, InvalidRequest | Unsupported> =>
  Effect.gen(function*() {
    if (spec.network?.outbound === false) {
      return yield* new Unsupported({
        provider: PROVIDER,
        capability: "network",
        message: "Runloop devboxes have outbound network; restrict it with a Runloop network policy on the blueprint"
      })
    }
    const lifetime = spec.lifetime ?? {}
    if (lifetime.maxLifetime !== undefined && lifetime.idleTimeout !== undefined) {
      return yield* new Unsupported({
        provider: PROVIDER,
        capability: "lifetime",
        message: "Runloop ignores the keep-alive time when an idle policy is set: give maxLifetime or idleTimeout, not both"
      })
    }
    const launch: Record<string, unknown> = {}
    if (spec.size !== undefined) launch["resource_size_request"] = SIZES[spec.size]
    else if (spec.resources !== undefined) {
      const custom = customSize(spec.resources)
      if (typeof custom === "string") return yield* invalid(custom)
      Object.assign(launch, custom)
    } else if (defaults.profile === "openhands") launch["resource_size_request"] = "LARGE"
    if (lifetime.maxLifetime !== undefined) {
      const seconds = Math.ceil(toMillis(lifetime.maxLifetime) / 1000)
      if (seconds > MAX_KEEP_ALIVE_SECONDS) return yield* invalid(`Runloop devboxes live at most 48 hours (maxLifetime ${seconds} s)`)
      launch["keep_alive_time_seconds"] = seconds
    }
    if (lifetime.idleTimeout !== undefined) {
      launch["after_idle"] = { idle_time_seconds: Math.ceil(toMillis(lifetime.idleTimeout) / 1000), on_idle: "shutdown" }
    }
    const metadata: Record<string, string> = { ...spec.labels }
    if (spec.cwd !== undefined) metadata[CWD_KEY] = spec.cwd
    const blueprint = spec.template ?? spec.image ?? (spec.from === undefined ? defaults.blueprint : undefined)
    if (spec.from !== undefined && (spec.template !== undefined || spec.image !== undefined)) {
      return yield* invalid("a snapshot already fixes the devbox's image: give `from` or `image`/`template`, not both")
    }
    const params: CreateParams = {
      metadata,
      ...(spec.name === undefined ? {} : { name: spec.name }),
      ...(spec.env === undefined ? {} : { environment_variables: { ...spec.env } }),
      ...(blueprint === undefined ? {} : blueprint.startsWith("bpt_") ? { blueprint_id: blueprint } : { blueprint_name: blueprint }),
      ...(spec.from === undefined ? {} : { snapshot_id: spec.from.id }),
      ...(Object.keys(launch).length === 0 ? {} : { launch_parameters: launch as NonNullable<CreateParams["launch_parameters"]> })
    }
    return params
  })

const STATES: Readonly<Record<DevboxStatus, SandboxState>> = {
  scheduled: "starting",
  queued: "starting",
  provisioning: "starting",
  initializing: "starting",
  resuming: "starting",
  running: "running",
  suspending: "paused",
  suspended: "paused",
  failure: "stopped",
  shutdown: "stopped"
}

export const stateOf = (status: DevboxStatus): SandboxState => STATES[status] ?? "unknown"

/** The statuses a `list({ state })` asks Runloop for (a stopped devbox is gone, as far as Sandkit is concerned). */
export const statusesFor = (state: SandboxState | undefined): ReadonlyArray<DevboxStatus> =>
  (Object.keys(STATES) as Array<DevboxStatus>).filter((s) => STATES[s] !== "stopped" && (state === undefined || STATES[s] === state))

export const labelsOf = (metadata: Readonly<Record<string, string>> | undefined): Record<string, string> => {
  const labels: Record<string, string> = {}
  for (const [k, v] of Object.entries(metadata ?? {})) if (k !== CWD_KEY && k !== CREATE_KEY) labels[k] = v
  return labels
}

export const infoOf = (view: DevboxView, workdir: string): SandboxInfo => {
  const keepAlive = view.launch_parameters?.keep_alive_time_seconds
  return {
    id: view.id,
    provider: PROVIDER,
    name: view.name ?? undefined,
    state: stateOf(view.status),
    labels: labelsOf(view.metadata),
    createdAt: new Date(view.create_time_ms),
    expiresAt: typeof keepAlive === "number" ? new Date(view.create_time_ms + keepAlive * 1000) : undefined,
    image: view.blueprint_id ?? view.snapshot_id ?? undefined,
    workdir
  }
}

/** The workdir of a devbox whose home is `home`: the spec's `cwd` (kept in metadata) under it. */
export const workdirOf = (view: DevboxView, home: string): string => {
  const cwd = view.metadata?.[CWD_KEY]
  return cwd === undefined ? home : joinSandboxPath(home, cwd)
}

export interface OpenHandsSpecOptions {
  /** The OpenHands session id: the devbox name, found again by `findOrCreate({ name })`. */
  readonly sessionId: string
  /** Kept in metadata like the OpenHands runtime did. Default `openhands-runtime-<sessionId>`. */
  readonly containerName?: string | undefined
  /** A prebuilt blueprint (the OpenHands runtime used `openhands`). */
  readonly blueprint?: string | undefined
  readonly env?: Readonly<Record<string, string>> | undefined
}

/** The spec the OpenHands Runloop runtime created its devboxes with: named after the session, LARGE. */
export const openHandsSpec = (options: OpenHandsSpecOptions): SandboxSpecInput & { readonly name: string } => ({
  name: options.sessionId,
  size: "large",
  labels: { "container-name": options.containerName ?? `openhands-runtime-${options.sessionId}` },
  ...(options.blueprint === undefined ? {} : { template: options.blueprint }),
  ...(options.env === undefined ? {} : { env: { ...options.env } })
})
