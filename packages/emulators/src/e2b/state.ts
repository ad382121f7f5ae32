/**
 * What the E2B emulator keeps per sandbox besides the registry's common fields: the envd access token, the running
 * processes (by pid) and the code-interpreter contexts. Plus path resolution the way envd does it.
 */
import type { SandboxError, SandboxProcess } from "@sandkit/core"
import { Cause, Effect, Exit, Option, Scope } from "effect"
import { posix } from "node:path"
import type { EmulatedSandbox, Registry } from "../Registry.ts"
import { RpcError } from "./connect.ts"

/** The proto3 JSON of a process event (`{ start }`, `{ data }`, `{ end }`, `{ keepalive }`). */
export type ProcessEvent = Record<string, unknown>

export interface ProcessConfig {
  readonly cmd: string
  readonly args: ReadonlyArray<string>
  readonly envs: Readonly<Record<string, string>>
  readonly cwd?: string | undefined
}

export interface ProcessRecord {
  readonly pid: number
  readonly tag?: string | undefined
  readonly config: ProcessConfig
  readonly process: SandboxProcess
  readonly scope: Scope.Closeable
  /** Stream subscribers (Start and Connect calls); each gets every event from its subscription on. */
  readonly subscribers: Set<(event: ProcessEvent) => void>
  /** Ended subscribers are told with `onEnd`. */
  readonly endSubscribers: Set<() => void>
  stdinOpen: boolean
  /** The signal we delivered, so the end event says `signal: killed` rather than an exit status. */
  signalled?: "SIGKILL" | "SIGTERM" | undefined
}

export interface CodeContext {
  readonly id: string
  readonly language: string
  readonly cwd: string
  /** Executions run one after another. */
  queue: Promise<void>
  session?: import("./python.ts").PythonSession | undefined
}

export interface E2bState {
  readonly envdAccessToken: string
  readonly clientID: string
  readonly processes: Map<number, ProcessRecord>
  readonly contexts: Map<string, CodeContext>
  /** Streams to cut when the sandbox goes away. */
  readonly streams: Set<{ abort(): void }>
}

export type E2bSandbox = EmulatedSandbox<E2bState>
export type E2bRegistry = Registry<E2bState>

/** E2B templates put the user's home at `/home/user`; here it is the local workspace, and that prefix is an alias. */
export const HOME_ALIAS = "/home/user"

/**
 * Resolve a sandbox path like envd: empty → the home (default workdir), `~` → home, relative → under home. The
 * `/home/user` prefix is mapped to the real home so code written for E2B's default template keeps working.
 */
export const resolvePath = (sandbox: E2bSandbox, path: string | undefined): string => {
  const home = sandbox.home
  if (path === undefined || path === "") return home
  let p = path
  if (p === "~") p = home
  else if (p.startsWith("~/")) p = posix.join(home, p.slice(2))
  else if (p === HOME_ALIAS || p.startsWith(HOME_ALIAS + "/")) p = home + p.slice(HOME_ALIAS.length)
  return posix.resolve(home, p)
}

/** An engine (local provider) failure as the Connect error envd would answer. */
export const rpcErrorOf = (error: SandboxError): RpcError => {
  switch (error._tag) {
    case "FileNotFound":
      return new RpcError("not_found", `path '${error.path}' does not exist`)
    case "PermissionDenied":
      return new RpcError("permission_denied", error.message)
    case "InvalidRequest":
      return new RpcError("invalid_argument", error.message)
    case "SandboxNotFound":
      return new RpcError("unavailable", "sandbox is not running")
    default:
      return new RpcError("internal", error.message)
  }
}

/** Run an engine effect; its failure becomes an `RpcError`. */
export const runEngine = async <A>(effect: Effect.Effect<A, SandboxError>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error)) throw rpcErrorOf(error.value)
  throw new RpcError("internal", `engine failure: ${Cause.pretty(exit.cause)}`)
}

export const closeScope = (scope: Scope.Closeable): Promise<void> => Effect.runPromise(Scope.close(scope, Exit.void))

export const randomToken = (bytes: number): string => {
  const data = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(data)
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("")
}

export const makeState = (): E2bState => ({
  envdAccessToken: randomToken(16),
  clientID: randomToken(4),
  processes: new Map(),
  contexts: new Map(),
  streams: new Set()
})

/** Tear down what the emulator keeps for a sandbox: end process streams and interpreter sessions. */
export const releaseState = async (sandbox: E2bSandbox): Promise<void> => {
  const state = sandbox.ext
  for (const stream of state.streams) stream.abort()
  state.streams.clear()
  await Promise.all([...state.processes.values()].map((p) => closeScope(p.scope).catch(() => undefined)))
  state.processes.clear()
  await Promise.all([...state.contexts.values()].map((c) => c.session?.close().catch(() => undefined)))
  state.contexts.clear()
}
