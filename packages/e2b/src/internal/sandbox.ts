/**
 * One E2B sandbox as a core `DriverSandbox`: the SDK's `Sandbox` object for the data plane (commands, files, code),
 * the control plane for lifetime (refresh, timeout, pause/resume). Opening one waits until envd answers and learns
 * the sandbox's home from it (`Stat("")` resolves to the default workdir), which `info.workdir` reports.
 */
import type { DriverSandbox, SandboxError, SandboxInfo, SandboxNotFound, SandboxState } from "@sandkit/core"
import { awaitReadiness, ProviderUnavailable, toMillis, joinSandboxPath } from "@sandkit/core"
import { Sandbox as SdkSandbox } from "@e2b/code-interpreter"
import { Effect, Stream } from "effect"
import type { Api, Connection, Detail } from "./api.ts"
import { runCode } from "./code.ts"
import * as Commands from "./commands.ts"
import type { ResolvedConfig } from "./config.ts"
import { fromSdkError, PROVIDER } from "./errors.ts"
import { makeFiles } from "./files.ts"

/** Metadata keys the adapter keeps for itself (never shown as labels). */
export const NAME_KEY = "sandkit.name"
export const CWD_KEY = "sandkit.cwd"
/** One id per create request, so a sandbox whose create answer was lost can still be found (and destroyed). */
export const CREATE_KEY = "sandkit.create"

/** E2B templates' default home, reported by `list` (which does not reach each sandbox's envd). */
export const DEFAULT_HOME = "/home/user"

export interface Deps {
  readonly config: ResolvedConfig
  readonly api: Api
  /** Per sandbox: code context name → E2B context id. */
  readonly codeContexts: Map<string, Map<string, string>>
}

const stateOf = (state: string): SandboxState =>
  state === "running" ? "running" : state === "paused" ? "paused" : state === "killed" ? "stopped" : "unknown"

export const labelsOf = (metadata: Readonly<Record<string, string>> | undefined): Record<string, string> => {
  const labels: Record<string, string> = {}
  for (const [k, v] of Object.entries(metadata ?? {})) if (k !== NAME_KEY && k !== CWD_KEY && k !== CREATE_KEY) labels[k] = v
  return labels
}

export const infoOf = (detail: Detail, workdir: string): SandboxInfo => ({
  id: detail.sandboxID,
  provider: PROVIDER,
  name: detail.metadata?.[NAME_KEY],
  state: stateOf(detail.state),
  labels: labelsOf(detail.metadata),
  createdAt: new Date(detail.startedAt),
  expiresAt: new Date(detail.endAt),
  image: detail.alias ?? detail.templateID,
  workdir
})

/** The sandbox's home, once envd answers (a sandbox still booting, or unreachable, answers 502). */
const awaitHome = (id: string, sdk: SdkSandbox, deps: Deps): Effect.Effect<string, SandboxError> =>
  Effect.gen(function*() {
    let home = DEFAULT_HOME
    const probe = Effect.tryPromise({
      try: () => sdk.files.getInfo(""),
      catch: (error) => fromSdkError(error, { operation: "readiness", sandboxId: id, secrets: deps.config.secrets })
    }).pipe(
      Effect.map((entry) => {
        home = entry.path
        return true
      }),
      Effect.catchIf(
        (error) => error._tag === "SandboxNotFound" || error._tag === "ProviderUnavailable",
        () => Effect.succeed(false)
      )
    )
    yield* awaitReadiness(probe, { provider: PROVIDER, sandboxId: id })
    return home
  })

/**
 * E2B's data plane answers "unavailable" (HTTP 502, or Connect's `unavailable`, which is also what a 429 or 503 of the
 * proxy becomes) both for a sandbox that is gone and for one that is merely unreachable for a moment, and the SDK
 * reports both as `SandboxNotFoundError`. The control plane tells them apart: a sandbox it still lists as running is
 * `ProviderUnavailable` (transient), anything else stays `SandboxNotFound`.
 */
const confirmGone = (api: Api, id: string) => (notFound: SandboxNotFound): Effect.Effect<never, SandboxError> =>
  Effect.flatMap(Effect.result(api.info(id)), (detail): Effect.Effect<never, SandboxError> =>
    detail._tag === "Success" && detail.success.state === "running"
      ? Effect.fail(new ProviderUnavailable({ ...notFound, message: `sandbox ${id} is running but its data plane did not answer: ${notFound.message}` }))
      : Effect.fail(notFound))

/** Every Effect-returning method of `target`, with `SandboxNotFound` checked by `confirm`. */
const confirmingAll = <T extends object>(target: T, confirm: ReturnType<typeof confirmGone>): T =>
  Object.fromEntries(Object.entries(target).map(([key, value]) => [
    key,
    typeof value === "function"
      ? (...args: Array<unknown>) => {
        const out: unknown = value(...args)
        return Effect.isEffect(out) ? Effect.catchTag(out as Effect.Effect<unknown, SandboxError>, "SandboxNotFound", confirm) : out
      }
      : value
  ])) as T

/**
 * Attach to a sandbox the control plane just created or connected: build the SDK object, wait for envd, assemble
 * the driver handle. `info` is what is known already (without `workdir`); `cwd` is the spec's default directory.
 */
export const openSandbox = (
  deps: Deps,
  connection: Connection,
  info: Omit<SandboxInfo, "workdir">,
  cwd: string | undefined
): Effect.Effect<DriverSandbox, SandboxError> =>
  Effect.gen(function*() {
    const { api, config } = deps
    const id = connection.sandboxID
    config.secrets.add(id, connection.envdAccessToken, connection.trafficAccessToken ?? undefined)
    const sdk = new SdkSandbox({
      ...config.connection,
      sandboxId: id,
      envdVersion: connection.envdVersion,
      ...(connection.domain === undefined || connection.domain === null ? {} : { sandboxDomain: connection.domain }),
      ...(connection.envdAccessToken === undefined ? {} : { envdAccessToken: connection.envdAccessToken }),
      ...(connection.trafficAccessToken === undefined || connection.trafficAccessToken === null
        ? {}
        : { trafficAccessToken: connection.trafficAccessToken })
    })
    const home = config.knownHome(id) ?? (yield* awaitHome(id, sdk, deps))
    const workdir = cwd === undefined ? home : joinSandboxPath(home, cwd)
    const resolve = (path: string) => joinSandboxPath(workdir, path)
    let contexts = deps.codeContexts.get(id)
    if (contexts === undefined) deps.codeContexts.set(id, contexts = new Map())
    const base = { sandboxId: id, sdk, secrets: config.secrets }
    const commands = { ...base, resolve, workdir }
    const confirm = confirmGone(api, id)
    const handle: DriverSandbox = {
      info: { ...info, workdir },
      refresh: Effect.map(api.info(id), (detail) => infoOf(detail, workdir)),
      exec: (command, options) => Effect.catchTag(Commands.exec(commands, command, options), "SandboxNotFound", confirm),
      execStream: (command, options) => Stream.catchTag(Commands.execStream(commands, command, options), "SandboxNotFound", (e) => Stream.fromEffect(confirm(e))),
      spawn: (command, options) => Effect.catchTag(Commands.spawn(commands, command, options), "SandboxNotFound", confirm),
      files: confirmingAll(makeFiles({ ...base, resolve }), confirm),
      exposePort: (port) =>
        Effect.sync(() => ({
          port,
          url: config.portUrl({ host: sdk.getHost(port), port, sandboxId: id }),
          token: sdk.trafficAccessToken
        })),
      runCode: (code, options) => Effect.catchTag(runCode({ ...base, workdir, contexts }, code, options), "SandboxNotFound", confirm),
      setTimeout: (duration) => api.setTimeout(id, Math.max(1, Math.ceil(toMillis(duration) / 1000))),
      pause: Effect.asVoid(api.pause(id)),
      resume: Effect.asVoid(api.connect(id))
    }
    return handle
  })
