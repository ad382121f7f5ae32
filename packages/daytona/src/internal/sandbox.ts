/**
 * One Daytona sandbox as a core `DriverSandbox`: the SDK's `Sandbox` object for the toolbox (sessions, files,
 * code) and lifetime (stop/start as pause/resume, TTL as `setTimeout`, preview links as `exposePort`). The work dir
 * is asked once from the toolbox (`GET /work-dir`) and joined with the spec's `cwd`, which travels as a label.
 */
import type { DriverSandbox, RunCodeResult, SandboxError, SandboxInfo, SandboxState, SnapshotRef } from "@sandkit/core"
import { StartupTimeout, toMillis, Unsupported, joinSandboxPath } from "@sandkit/core"
import type { Sandbox as SdkSandbox } from "@daytonaio/sdk"
import { Effect } from "effect"
import type { Client, SandboxRecord } from "./client.ts"
import * as Commands from "./commands.ts"
import type { SessionPool } from "./commands.ts"
import type { ResolvedConfig } from "./config.ts"
import { type ErrorContext, fromSdkError, PROVIDER } from "./errors.ts"
import { makeFiles } from "./files.ts"

/** Labels the adapter keeps for itself (never shown as the sandbox's labels). */
export const CWD_LABEL = "sandkit.cwd"
/** Set by every Daytona SDK; decides the language `runCode` runs. */
export const LANGUAGE_LABEL = "code-toolbox-language"
/** One id per create request, so a sandbox whose create answer was lost can still be found (and deleted). */
export const CREATE_LABEL = "sandkit.create"
const HIDDEN = new Set([CWD_LABEL, LANGUAGE_LABEL, CREATE_LABEL])

/** Daytona's default home, reported where the toolbox is not asked (`list`, a stopped sandbox). */
export const DEFAULT_WORKDIR = "/home/daytona"

/** How long a pause (stop) or resume (start) may take before it fails, in seconds. */
const TRANSITION_TIMEOUT_SECONDS = 120
/** How long taking a snapshot may take, in seconds. */
const SNAPSHOT_TIMEOUT_SECONDS = 300
/** Names of the snapshots Sandkit takes (what `listSnapshots` reports). */
export const SNAPSHOT_PREFIX = "sandkit-"

/** A Daytona snapshot (as `snapshot.get` / `list` return it) as a core ref; its name is the id `create` takes. */
export const snapshotRefOf = (dto: { readonly name: string; readonly createdAt: unknown; readonly sourceSandboxId?: string | null }): SnapshotRef => {
  const created = new Date(dto.createdAt as string)
  return {
    provider: PROVIDER,
    id: dto.name,
    createdAt: Number.isNaN(created.getTime()) ? new Date() : created,
    sourceSandboxId: dto.sourceSandboxId ?? undefined
  }
}

const randomHex = (bytes: number) => {
  const data = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(data)
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("")
}

export interface Deps {
  readonly config: ResolvedConfig
  readonly client: Client
  /** The idle exec sessions of a sandbox (one pool per sandbox, shared by its handles). */
  readonly sessionsFor: (sdk: SdkSandbox) => SessionPool
}

const STARTING = new Set(["creating", "starting", "restoring", "pending_build", "building_snapshot", "pulling_snapshot", "resuming", "snapshotting", "forking", "resizing"])
const PAUSED = new Set(["stopped", "stopping", "archived", "archiving", "paused", "pausing"])
const GONE = new Set(["destroyed", "destroying"])

/** Daytona state → core state: stopped / archived are `paused` (start resumes them), errors `unknown`. */
export const stateOf = (state: string | undefined): SandboxState =>
  state === "started"
    ? "running"
    : state !== undefined && STARTING.has(state)
    ? "starting"
    : state !== undefined && PAUSED.has(state)
    ? "paused"
    : state !== undefined && GONE.has(state)
    ? "stopped"
    : "unknown"

/** The Daytona states a core state filter asks for. */
export const statesFor = (state: SandboxState | undefined): ReadonlyArray<string> | undefined => {
  if (state === undefined) return undefined
  const all = [...STARTING, ...PAUSED, ...GONE, "started", "error", "build_failed", "unknown"]
  return all.filter((s) => stateOf(s) === state)
}

export const isGone = (state: string | undefined) => state !== undefined && GONE.has(state)

export const labelsOf = (labels: Readonly<Record<string, string>> | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(labels ?? {})) if (!HIDDEN.has(k)) out[k] = v
  return out
}

/** The spec's cwd (a label) against the work dir. */
export const workdirOf = (record: SandboxRecord, workDir: string | undefined): string => {
  const cwd = record.labels?.[CWD_LABEL]
  const base = workDir ?? DEFAULT_WORKDIR
  return cwd === undefined ? base : joinSandboxPath(base, cwd)
}

export const infoOf = (record: SandboxRecord, workdir: string): SandboxInfo => {
  const created = new Date(record.createdAt ?? Number.NaN)
  const expires = record.autoDestroyAt === undefined ? undefined : new Date(record.autoDestroyAt)
  return {
    id: record.id,
    provider: PROVIDER,
    // Daytona names every sandbox (its id when none was given); only a chosen name is reported.
    name: record.name === undefined || record.name === record.id ? undefined : record.name,
    state: stateOf(record.state),
    labels: labelsOf(record.labels),
    createdAt: Number.isNaN(created.getTime()) ? new Date() : created,
    expiresAt: expires === undefined || Number.isNaN(expires.getTime()) ? undefined : expires,
    image: record.snapshot,
    workdir
  }
}

/** Python's last traceback line, `NameError: name 'x' is not defined` → name and value. */
const parseError = (output: string, exitCode: number): RunCodeResult["error"] => {
  const last = output.trim().split("\n").at(-1) ?? ""
  const match = /^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)):\s?(.*)$/.exec(last)
  return match ? { name: match[1]!, value: match[2]!, traceback: output } : { name: "ExitCode", value: String(exitCode), traceback: output }
}

/** The work dir: configured, or asked from the toolbox (which fails while the sandbox is not running). */
export const askWorkDir = (deps: Deps, sdk: SdkSandbox): Effect.Effect<string, SandboxError> =>
  deps.config.workdir !== undefined ? Effect.succeed(deps.config.workdir) : Effect.tryPromise({
    try: () => sdk.getWorkDir(),
    catch: (error) => fromSdkError(error, { operation: "workdir", sandboxId: sdk.id, secrets: deps.config.secrets })
  }).pipe(Effect.map((dir) => dir ?? DEFAULT_WORKDIR))

/** The driver handle over the SDK object. `workDir`: the toolbox's, when already known. */
export const openSandbox = (deps: Deps, sdk: SdkSandbox, workDir: string | undefined): DriverSandbox => {
  const { config } = deps
  const id = sdk.id
  const ctx = (operation: string, extra: Partial<ErrorContext> = {}): ErrorContext => ({ operation, sandboxId: id, secrets: config.secrets, ...extra })
  const call = <A>(operation: string, f: () => Promise<A>, extra?: Partial<ErrorContext>) =>
    Effect.tryPromise({ try: f, catch: (error) => fromSdkError(error, ctx(operation, extra)) })
  let known = workDir
  /** Asked once the sandbox runs (a handle opened on a stopped sandbox learns it after `resume`). */
  const workdir: Effect.Effect<string, SandboxError> = Effect.suspend(() =>
    known !== undefined ? Effect.succeed(workdirOf(sdk, known)) : Effect.map(askWorkDir(deps, sdk), (dir) => workdirOf(sdk, known = dir))
  )
  let token: string | undefined
  /** Asked once per handle: the token of the sandbox's preview links, which also authenticates its WebSockets. */
  const previewToken: Effect.Effect<string, SandboxError> = Effect.suspend(() =>
    token !== undefined ? Effect.succeed(token) : Effect.map(call("logs", () => sdk.getPreviewLink(1)), (link) => {
      config.secrets.add(link.token)
      return token = link.token
    })
  )
  const sessions = deps.sessionsFor(sdk)
  const base = { sandboxId: id, sdk, secrets: config.secrets, workdir, previewToken, sessions }
  return {
    info: infoOf(sdk, workdirOf(sdk, known)),
    refresh: Effect.map(call("refresh", () => sdk.refreshData()), () => infoOf(sdk, workdirOf(sdk, known))),
    exec: (command, options) => Commands.exec(base, command, options),
    execStream: (command, options) => Commands.execStream(base, command, options),
    spawn: (command, options) => Commands.spawn(base, command, options),
    files: makeFiles(base),
    exposePort: (port) =>
      Effect.map(call("exposePort", () => sdk.getPreviewLink(port)), (link) => {
        config.secrets.add(link.token)
        return { port, url: link.url, token: link.token, headers: { "x-daytona-preview-token": link.token } }
      }),
    runCode: (code, options) =>
      Effect.gen(function*() {
        if (options.context !== undefined) {
          return yield* new Unsupported({
            provider: PROVIDER,
            sandboxId: id,
            capability: "runCode:context",
            message: "daytona runs each snippet in a fresh interpreter; code contexts are not supported"
          })
        }
        const seconds = options.timeout === undefined ? undefined : Math.max(1, Math.ceil(toMillis(options.timeout) / 1000))
        const timeoutMs = seconds === undefined ? undefined : seconds * 1000
        const response = yield* call("runCode", () => sdk.process.codeRun(code, undefined, seconds), { timeoutMs })
        return {
          stdout: response.result,
          stderr: "",
          results: [],
          error: response.exitCode === 0 ? undefined : parseError(response.result, response.exitCode)
        }
      }),
    setTimeout: (duration) => call("setTimeout", () => sdk.setTtl(Math.max(1, Math.ceil(toMillis(duration) / 60_000)))),
    // Stopping ends every session: the idle ones are forgotten, not deleted.
    pause: Effect.andThen(Effect.sync(() => sessions.drain()), call("pause", () => sdk.stop(TRANSITION_TIMEOUT_SECONDS))),
    snapshot: Effect.gen(function*() {
      const name = `${SNAPSHOT_PREFIX}${randomHex(10)}`
      yield* call("snapshot", () => sdk.createSnapshot(name, SNAPSHOT_TIMEOUT_SECONDS))
      return snapshotRefOf(yield* call("snapshot", () => deps.client.daytona.snapshot.get(name)))
    }),
    resume: call("resume", () => sdk.start(TRANSITION_TIMEOUT_SECONDS)).pipe(
      Effect.mapError((error) =>
        error._tag === "ProviderUnavailable" && (error.cause as { name?: string } | undefined)?.name === "DaytonaTimeoutError"
          ? new StartupTimeout({ provider: PROVIDER, sandboxId: id, message: `sandbox ${id} did not start within ${TRANSITION_TIMEOUT_SECONDS} s`, cause: error.cause })
          : error
      )
    )
  }
}
