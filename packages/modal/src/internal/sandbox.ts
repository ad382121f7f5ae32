/**
 * One Modal sandbox as a core `DriverSandbox`. What Modal does not report for a sandbox (its Sandkit name, working
 * directory, creation and expiry times, image) travels in tags under `sandkit.*` keys, which `info.labels` leaves out.
 * The working directory is learnt once, at creation, by running `pwd` in the sandbox: that probe is also the
 * readiness check (the sandbox accepts commands).
 */
import type { DriverSandbox, SandboxError, SandboxInfo } from "@sandkit/core"
import { awaitReadiness, ProviderError, SandboxNotFound, joinSandboxPath } from "@sandkit/core"
import type { Sandbox as SdkSandbox } from "modal"
import { Effect } from "effect"
import * as Commands from "./commands.ts"
import type { ResolvedConfig } from "./config.ts"
import { fromSdkError, PROVIDER } from "./errors.ts"
import { makeFiles } from "./files.ts"

export const NAME_TAG = "sandkit.name"
export const WORKDIR_TAG = "sandkit.workdir"
export const CREATED_TAG = "sandkit.created"
export const EXPIRES_TAG = "sandkit.expires"
export const IMAGE_TAG = "sandkit.image"
/** One id per create request: a sandbox found by name after a lost create answer is terminated only if it carries it. */
export const CREATE_TAG = "sandkit.create"
const INTERNAL: ReadonlySet<string> = new Set([NAME_TAG, WORKDIR_TAG, CREATED_TAG, EXPIRES_TAG, IMAGE_TAG, CREATE_TAG])

const dateOf = (value: string | undefined): Date | undefined => {
  const ms = Number(value)
  return value === undefined || value === "" || !Number.isFinite(ms) ? undefined : new Date(ms)
}

/** A sandbox's info from its tags (Modal lists running sandboxes only, so the state is `running`). */
export const infoOf = (id: string, tags: Readonly<Record<string, string>>): SandboxInfo => {
  const labels: Record<string, string> = {}
  for (const [k, v] of Object.entries(tags)) if (!INTERNAL.has(k)) labels[k] = v
  return {
    id,
    provider: PROVIDER,
    name: tags[NAME_TAG],
    state: "running",
    labels,
    createdAt: dateOf(tags[CREATED_TAG]) ?? new Date(0),
    expiresAt: dateOf(tags[EXPIRES_TAG]),
    image: tags[IMAGE_TAG],
    workdir: tags[WORKDIR_TAG] ?? "/"
  }
}

export interface Deps {
  readonly config: ResolvedConfig
}

const sdkCall = <A>(deps: Deps, operation: string, sandboxId: string, f: () => Promise<A>): Effect.Effect<A, SandboxError> =>
  Effect.tryPromise({ try: f, catch: (error) => fromSdkError(error, { operation, sandboxId, secrets: deps.config.secrets }) })

/** The tags of a sandbox that is still running; `SandboxNotFound` otherwise. */
export const readTags = (deps: Deps, sdk: SdkSandbox): Effect.Effect<Record<string, string>, SandboxError> =>
  Effect.gen(function*() {
    const code = yield* Effect.promise(() => Commands.pollState(sdk))
    if (code !== null) {
      return yield* new SandboxNotFound({ provider: PROVIDER, sandboxId: sdk.sandboxId, message: `modal sandbox ${sdk.sandboxId} is not running` })
    }
    return yield* sdkCall(deps, "tags", sdk.sandboxId, () => sdk.getTags())
  })

const PROBE = "if [ -n \"$1\" ]; then mkdir -p -- \"$1\" && cd -- \"$1\" || exit 1; fi; pwd"

/**
 * Wait until the sandbox runs commands (polled under the core `readiness` schedule) and learn its working
 * directory: the image's, or `cwd` resolved against it (created if missing).
 */
export const probeWorkdir = (deps: Deps, sdk: SdkSandbox, cwd: string | undefined): Effect.Effect<string, SandboxError> =>
  Effect.gen(function*() {
    let workdir: string | undefined
    const once = sdkCall(deps, "readiness", sdk.sandboxId, async () => {
      const process = await sdk.exec(["/bin/sh", "-c", PROBE, "sandkit-probe", cwd ?? ""], { stderr: "ignore" })
      const [out, code] = await Promise.all([process.stdout.readText(), process.wait()])
      return { out: out.trim(), code }
    }).pipe(
      Effect.flatMap(({ code, out }) => {
        if (code !== 0 || !out.startsWith("/")) {
          return Effect.fail(new ProviderError({
            provider: PROVIDER,
            sandboxId: sdk.sandboxId,
            message: `modal: could not prepare the working directory ${JSON.stringify(cwd ?? "")} (exit ${code})`
          }))
        }
        workdir = out
        return Effect.succeed(true)
      }),
      // Not accepting commands yet (the router is not up): try again on the readiness schedule.
      Effect.catchIf((e) => e._tag === "ProviderUnavailable" || (e._tag === "ProviderError" && e.status !== undefined), () => Effect.succeed(false))
    )
    yield* awaitReadiness(once, { provider: PROVIDER, sandboxId: sdk.sandboxId })
    return workdir!
  })

/** The driver handle over an SDK sandbox whose workdir is known. */
export const openSandbox = (deps: Deps, sdk: SdkSandbox, info: SandboxInfo): DriverSandbox => {
  const { config } = deps
  const id = sdk.sandboxId
  const workdir = info.workdir
  const resolve = (path: string) => joinSandboxPath(workdir, path)
  const base = { sandboxId: id, sdk, secrets: config.secrets }
  const commands: Commands.CommandContext = { ...base, resolve, workdir, livenessIntervalMs: config.livenessIntervalMs }
  return {
    info,
    refresh: Effect.map(readTags(deps, sdk), (tags) => infoOf(id, tags)),
    exec: (command, options) => Commands.exec(commands, command, options),
    execStream: (command, options) => Commands.execStream(commands, command, options),
    spawn: (command, options) => Commands.spawn(commands, command, options),
    files: makeFiles({ ...base, resolve }),
    exposePort: (port) =>
      config.encryptedPorts.includes(port)
        ? sdkCall(deps, "exposePort", id, async () => {
          const tunnel = (await sdk.tunnels())[port]
          if (tunnel === undefined) throw new Error(`no tunnel for port ${port}`)
          return { port, url: tunnel.url }
        })
        : sdkCall(deps, "exposePort", id, async () => {
          const { token, url } = await sdk.createConnectToken({ port })
          config.secrets.add(token)
          return { port, url, token }
        })
  }
}
