/**
 * The `Sandbox` handle and the values its operations return.
 */
import type { Effect, Scope, Stream } from "effect"
import type { Capabilities } from "./Capabilities.ts"
import type { SandboxError } from "./SandboxError.ts"
import type { Command, ExecOptionsInput, RunCodeOptions, SpawnOptions } from "./SandboxSpec.ts"
import type { Duration } from "effect"

export type SandboxState = "starting" | "running" | "paused" | "stopped" | "unknown"

export interface SandboxInfo {
  readonly id: string
  readonly provider: string
  readonly name?: string | undefined
  readonly state: SandboxState
  readonly labels: Readonly<Record<string, string>>
  readonly createdAt: Date
  /** When the provider will end the sandbox on its own, if known. */
  readonly expiresAt?: Date | undefined
  readonly image?: string | undefined
  /** The directory commands start in and relative file paths resolve against. */
  readonly workdir: string
  /** The process that created it is gone (local provider); `reap` collects these. */
  readonly orphaned?: boolean | undefined
}

export interface ExecResult {
  /** The command's exit status. Non-zero is data, not an error. 128+N when killed by signal N. */
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  readonly durationMs: number
  /** Output past `maxOutputBytes` was dropped. */
  readonly truncated: boolean
}

export interface StdoutChunk {
  readonly _tag: "Stdout"
  readonly data: Uint8Array
}
export interface StderrChunk {
  readonly _tag: "Stderr"
  readonly data: Uint8Array
}
export interface ExitEvent {
  readonly _tag: "Exit"
  readonly exitCode: number
}
export type OutputChunk = StdoutChunk | StderrChunk
/** What `execStream` emits: output chunks in arrival order, then exactly one `Exit`. */
export type ExecEvent = OutputChunk | ExitEvent

export interface SandboxProcess {
  /** The provider's id for the process (a pid for local). */
  readonly pid: string
  /** Write to standard input. */
  readonly write: (data: string | Uint8Array) => Effect.Effect<void, SandboxError>
  /** Close standard input (EOF). */
  readonly closeStdin: Effect.Effect<void, SandboxError>
  /** stdout and stderr chunks in arrival order; ends when the process exits. Consume it once. */
  readonly output: Stream.Stream<OutputChunk, SandboxError>
  /** Wait for the exit code. */
  readonly wait: Effect.Effect<number, SandboxError>
  /** Send a signal (default SIGTERM) to the process and its children. */
  readonly kill: (signal?: "SIGTERM" | "SIGKILL" | "SIGINT" | "SIGHUP") => Effect.Effect<void, SandboxError>
}

export interface FileEntry {
  /** Base name. */
  readonly name: string
  /** Path as the sandbox sees it. */
  readonly path: string
  readonly type: "file" | "directory" | "symlink" | "other"
  readonly size: number
  readonly modifiedAt?: Date | undefined
}

/** One file of a bulk transfer; `path` is relative to the transferred directory, `/`-separated. */
export interface FileData {
  readonly path: string
  readonly data: Uint8Array
}

export interface SandboxFiles {
  readonly read: (path: string) => Effect.Effect<Uint8Array, SandboxError>
  readonly readText: (path: string) => Effect.Effect<string, SandboxError>
  /** Creates parent directories as needed. */
  readonly write: (path: string, data: string | Uint8Array) => Effect.Effect<void, SandboxError>
  readonly list: (path: string) => Effect.Effect<ReadonlyArray<FileEntry>, SandboxError>
  /** Recursive; fine if it exists. */
  readonly mkdir: (path: string) => Effect.Effect<void, SandboxError>
  /** Recursive; fine if it is already gone. */
  readonly remove: (path: string) => Effect.Effect<void, SandboxError>
  readonly stat: (path: string) => Effect.Effect<FileEntry, SandboxError>
  readonly exists: (path: string) => Effect.Effect<boolean, SandboxError>
  /** Write many files under `directory`, consumed as a stream so large trees never sit in memory whole. */
  readonly upload: (
    directory: string,
    files: Stream.Stream<FileData, SandboxError> | Iterable<FileData>
  ) => Effect.Effect<number, SandboxError>
  /** Every regular file under `directory`, with paths relative to it. */
  readonly download: (directory: string) => Stream.Stream<FileData, SandboxError>
}

export interface ExposedPort {
  readonly port: number
  readonly url: string
  /** Send as a header or query parameter where the provider requires it. */
  readonly token?: string | undefined
  /** Headers to send with each request to `url`, the token among them in the form the provider expects. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

export interface RunCodeResult {
  readonly stdout: string
  readonly stderr: string
  /** Rich results by MIME type (`text/plain`, `image/png`, …) where the provider has them. */
  readonly results: ReadonlyArray<Readonly<Record<string, string>>>
  readonly error?: { readonly name: string; readonly value: string; readonly traceback: string } | undefined
}

/** A saved state of a sandbox's files, to start new sandboxes from (`create({ from: ref })`). */
export interface SnapshotRef {
  readonly provider: string
  readonly id: string
  readonly createdAt: Date
  /** Bytes stored, when the provider says. */
  readonly sizeBytes?: number | undefined
  /** The sandbox it was taken from. */
  readonly sourceSandboxId?: string | undefined
}

export interface Sandbox {
  readonly id: string
  readonly provider: string
  readonly capabilities: Capabilities
  /** As of creation or connection; `refresh` reads it again. */
  readonly info: SandboxInfo
  readonly refresh: Effect.Effect<SandboxInfo, SandboxError>
  /** Run to completion. A non-zero exit is in the result; a timeout is `CommandTimeout` and the process is killed. */
  readonly exec: (command: Command, options?: ExecOptionsInput) => Effect.Effect<ExecResult, SandboxError>
  /** Output as it happens, then `Exit`. Interrupting the stream kills the process. */
  readonly execStream: (command: Command, options?: ExecOptionsInput) => Stream.Stream<ExecEvent, SandboxError>
  /** A background process, killed when the scope closes. */
  readonly spawn: (command: Command, options?: SpawnOptions) => Effect.Effect<SandboxProcess, SandboxError, Scope.Scope>
  readonly files: SandboxFiles
  readonly exposePort: (port: number) => Effect.Effect<ExposedPort, SandboxError>
  readonly runCode: (code: string, options?: RunCodeOptions) => Effect.Effect<RunCodeResult, SandboxError>
  /** The sandbox will now end `duration` from now (the provider's own timer; outlives this program). */
  readonly setTimeout: (duration: Duration.Input) => Effect.Effect<void, SandboxError>
  readonly pause: Effect.Effect<void, SandboxError>
  /** Save the sandbox's files; it keeps running. Start others from it with `create({ from: ref })`. */
  readonly snapshot: Effect.Effect<SnapshotRef, SandboxError>
  readonly resume: Effect.Effect<void, SandboxError>
  /** Destroy now. Idempotent. */
  readonly destroy: Effect.Effect<void, SandboxError>
}
