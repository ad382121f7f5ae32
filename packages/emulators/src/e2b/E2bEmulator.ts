/**
 * An offline E2B. The control plane, envd (processes, filesystem, `/files`, health) and
 * the code interpreter (`/execute`, `/contexts`) on one local port, spoken in E2B's wire protocol so the official
 * `e2b` / `@e2b/code-interpreter` SDKs work against it unchanged. Commands, files and Python really run, through the
 * `@sandkit/local` engine; the fault knobs (`faults`, `registry`) and the request log (`log`) drive tests.
 *
 * ```ts
 * const emulator = yield* E2bEmulator.make()
 * const sandbox = await Sandbox.create({ ...emulator.sdkOptions })   // the real SDK, offline
 * ```
 */
import type { ProviderError, Unsupported } from "@sandkit/core"
import type { LocalProvider } from "@sandkit/local"
import { Effect, Exit, Redacted, Scope } from "effect"
import { Faults, type Random } from "../Faults.ts"
import * as HttpServer from "../HttpServer.ts"
import { Registry } from "../Registry.ts"
import { RequestLog } from "../RequestLog.ts"
import { SUPPORTED_LANGUAGES } from "./interpreter.ts"
import { dispatcher, ENVD_PORT, errorBody, INTERPRETER_PORT, PORT_PREFIX } from "./routes.ts"
import { type E2bRegistry, type E2bState, releaseState } from "./state.ts"

export { SUPPORTED_LANGUAGES }
export { ENVD_PORT, INTERPRETER_PORT, PORT_PREFIX } from "./routes.ts"
export type { CodeContext, E2bSandbox, E2bState, ProcessRecord } from "./state.ts"
export { HOME_ALIAS } from "./state.ts"

/** The templates every emulator knows: E2B's public ones (all run the same local engine here). */
export const defaultTemplates: ReadonlyArray<string> = ["base", "code-interpreter-v1", "code-interpreter", "desktop", "mcp-gateway"]

/** Route names, as used by `faults` and `log`. */
export const routes = {
  controlPlane: ["create", "connect", "getInfo", "list", "kill", "setTimeout", "pause"],
  envd: [
    "health",
    "files.read",
    "files.write",
    "process.Start",
    "process.Connect",
    "process.SendInput",
    "process.CloseStdin",
    "process.SendSignal",
    "process.List",
    "filesystem.Stat",
    "filesystem.ListDir",
    "filesystem.MakeDir",
    "filesystem.Remove",
    "filesystem.Move"
  ],
  interpreter: ["execute", "contexts.create", "contexts.list", "contexts.delete", "contexts.restart"],
  other: ["port", "unknown"]
} as const

export interface E2bEmulatorOptions {
  /** Accept only this `X-API-KEY` (anything else gets 401). Default: any non-empty key. */
  readonly apiKey?: string
  /**
   * Template names a create may use; any other gets 404, like E2B. Default: `defaultTemplates`. Pass `"any"` to
   * accept every name.
   */
  readonly templates?: ReadonlyArray<string> | "any"
  /** The envd version reported to the SDK (gates SDK features). Default `"0.5.7"`. */
  readonly envdVersion?: string
  /** Lifetime of a sandbox created or resumed without a timeout, in ms. Default 300 000 (E2B's). */
  readonly defaultTimeoutMs?: number
  /** Page size of the sandbox list when the client gives no `limit`. Default 100. */
  readonly pageSize?: number
  /** Options of the local engine that runs the commands (default: best isolation tier, a fresh temporary root). */
  readonly local?: LocalProvider.LocalOptions
  /** Random source for latency distributions (inject a seeded one for reproducible draws). */
  readonly random?: Random
  /** Listen on this port of 127.0.0.1 instead of a random free one. */
  readonly port?: number
}

export interface E2bEmulator {
  /** `http://127.0.0.1:<port>`: control plane and data plane alike. */
  readonly url: string
  readonly port: number
  /** What to pass as the SDK's `apiUrl` (or `E2B_API_URL`). */
  readonly apiUrl: string
  /** What to pass as the SDK's `sandboxUrl` (or `E2B_SANDBOX_URL`). */
  readonly sandboxUrl: string
  /** Options for the raw SDK: `Sandbox.create({ ...emulator.sdkOptions })`. */
  readonly sdkOptions: { readonly apiKey: string; readonly apiUrl: string; readonly sandboxUrl: string; readonly debug: false }
  /** Options for the Sandkit adapter: `E2bProvider.layer(emulator.adapterOptions)`. */
  readonly adapterOptions: {
    readonly apiKey: Redacted.Redacted<string>
    readonly apiUrl: string
    readonly sandboxUrl: string
    readonly portUrl: (target: { readonly sandboxId: string; readonly port: number }) => string
    /** What the emulated code interpreter runs. */
    readonly runCodeLanguages: ReadonlyArray<string>
  }
  /** The emulated sandboxes, with the sandbox-level knobs (quota, readiness delay, silent deletion). */
  readonly registry: E2bRegistry
  /** Request-level knobs: latency, failing / resetting the next N calls of a route. */
  readonly faults: Faults
  /** Every request received, by route. */
  readonly log: RequestLog
  /**
   * The home (default workdir) of a sandbox, known in-process: `E2bProvider.layer({ ...adapterOptions, workdir:
   * emulator.homeOf })` is the emulated twin of `workdir: "/home/user"` on real E2B (the adapter skips its probe).
   */
  readonly homeOf: (sandboxId: string) => string | undefined
  /** A plain URL reaching `port` inside a sandbox (for `E2bProvider.layer({ portUrl })`). */
  readonly portUrl: (target: { readonly sandboxId: string; readonly port: number }) => string
  /** Destroy every sandbox, forget every knob and the log: a clean slate between tests. */
  readonly reset: () => Promise<void>
}

/** Start the emulator in the current scope; closing the scope stops it and destroys every sandbox. */
export const make = (options: E2bEmulatorOptions = {}): Effect.Effect<E2bEmulator, Unsupported | ProviderError, Scope.Scope> =>
  Effect.gen(function*() {
    const faults = new Faults(options.random)
    const log = new RequestLog()
    const registry: E2bRegistry = yield* Registry.make<E2bState>(
      options.local === undefined ? {} : { local: options.local },
      { onRemove: (sandbox) => releaseState(sandbox) }
    )
    const server = yield* HttpServer.make({
      faults,
      log,
      errorBody,
      ...(options.port === undefined ? {} : { port: options.port }),
      dispatch: dispatcher(registry, {
        apiKey: options.apiKey,
        envdVersion: options.envdVersion ?? "0.5.7",
        templates: options.templates === "any" ? undefined : options.templates ?? defaultTemplates,
        defaultTimeoutMs: options.defaultTimeoutMs ?? 300_000,
        pageSize: options.pageSize ?? 100
      })
    })
    const apiKey = options.apiKey ?? "e2b_emulator"
    const portUrl = ({ port, sandboxId }: { readonly sandboxId: string; readonly port: number }) =>
      `${server.url}${PORT_PREFIX}${sandboxId}/${port}`
    const emulator: E2bEmulator = {
      url: server.url,
      port: server.port,
      apiUrl: server.url,
      sandboxUrl: server.url,
      sdkOptions: { apiKey, apiUrl: server.url, sandboxUrl: server.url, debug: false },
      adapterOptions: { apiKey: Redacted.make(apiKey), apiUrl: server.url, sandboxUrl: server.url, portUrl, runCodeLanguages: SUPPORTED_LANGUAGES },
      registry,
      faults,
      log,
      portUrl,
      homeOf: (sandboxId) => registry.get(sandboxId)?.home,
      reset: async () => {
        await Promise.all(registry.ids().map((id) => registry.destroy(id)))
        registry.clearKnobs()
        faults.clear()
        log.clear()
      }
    }
    return emulator
  })

/**
 * The emulator without Effect: `const emulator = await E2bEmulator.start()`, then `await emulator.close()`.
 */
export const start = async (options: E2bEmulatorOptions = {}): Promise<E2bEmulator & { readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(make(options).pipe(Scope.provide(scope)))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw new Error(`the E2B emulator could not start: ${String(exit.cause)}`)
  }
  return { ...exit.value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** The ports the SDK addresses: envd and the code interpreter. */
export const ports = { envd: ENVD_PORT, interpreter: INTERPRETER_PORT } as const
