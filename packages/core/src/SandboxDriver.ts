/**
 * What a provider package implements: the raw operations, already given validated input. `SandboxProvider.make`
 * wraps a driver with everything that must behave the same everywhere (validation, labels, capability checks,
 * retries, scoped lifetimes), so an adapter stays a translation table: SDK call ↔ core type, SDK error ↔ tagged error.
 *
 * Optional members are the optional capabilities: leave one out and callers get `Unsupported`.
 */
import type { Duration, Effect, Scope, Stream } from "effect"
import type { Capabilities } from "./Capabilities.ts"
import type {
  ExecEvent,
  ExecResult,
  ExposedPort,
  FileData,
  FileEntry,
  RunCodeResult,
  SandboxInfo,
  SandboxProcess,
  SnapshotRef
} from "./Sandbox.ts"
import type { SandboxError } from "./SandboxError.ts"
import type { Command, ExecOptions, ListFilter, RunCodeOptions, SandboxSpec, SpawnOptions } from "./SandboxSpec.ts"

/** The spec as a driver receives it: validated, labels complete (`sandkit.owner`, `sandkit.run` included). */
export interface ResolvedSpec extends Omit<SandboxSpec, "labels"> {
  readonly labels: Readonly<Record<string, string>>
}

export interface DriverFiles {
  readonly read: (path: string) => Effect.Effect<Uint8Array, SandboxError>
  readonly write: (path: string, data: Uint8Array) => Effect.Effect<void, SandboxError>
  readonly list: (path: string) => Effect.Effect<ReadonlyArray<FileEntry>, SandboxError>
  readonly mkdir: (path: string) => Effect.Effect<void, SandboxError>
  readonly remove: (path: string) => Effect.Effect<void, SandboxError>
  readonly stat: (path: string) => Effect.Effect<FileEntry, SandboxError>
  /** Optional fast paths; without them core falls back to `write` per file / a recursive `list` + `read`. */
  readonly upload?: (directory: string, files: Stream.Stream<FileData, SandboxError>) => Effect.Effect<number, SandboxError>
  readonly download?: (directory: string) => Stream.Stream<FileData, SandboxError>
}

export interface DriverSandbox {
  readonly info: SandboxInfo
  readonly refresh: Effect.Effect<SandboxInfo, SandboxError>
  readonly exec: (command: Command, options: ExecOptions) => Effect.Effect<ExecResult, SandboxError>
  readonly execStream?: (command: Command, options: ExecOptions) => Stream.Stream<ExecEvent, SandboxError>
  readonly spawn?: (command: Command, options: SpawnOptions) => Effect.Effect<SandboxProcess, SandboxError, Scope.Scope>
  readonly files?: DriverFiles
  readonly exposePort?: (port: number) => Effect.Effect<ExposedPort, SandboxError>
  readonly runCode?: (code: string, options: RunCodeOptions) => Effect.Effect<RunCodeResult, SandboxError>
  readonly setTimeout?: (duration: Duration.Duration) => Effect.Effect<void, SandboxError>
  readonly pause?: Effect.Effect<void, SandboxError>
  readonly snapshot?: Effect.Effect<SnapshotRef, SandboxError>
  readonly resume?: Effect.Effect<void, SandboxError>
}

export interface SandboxDriver {
  /** Short provider name: `local`, `e2b`, `daytona`, `modal`, `runloop`. */
  readonly name: string
  readonly capabilities: Capabilities
  /** Create and wait until it accepts commands. On a readiness timeout, destroy what was created. */
  readonly create: (spec: ResolvedSpec) => Effect.Effect<DriverSandbox, SandboxError>
  /** Re-attach; `SandboxNotFound` when it is gone. */
  readonly connect: (id: string) => Effect.Effect<DriverSandbox, SandboxError>
  readonly list: (filter: ListFilter) => Effect.Effect<ReadonlyArray<SandboxInfo>, SandboxError>
  /** Destroy; a sandbox that is already gone is success. */
  readonly destroy: (id: string) => Effect.Effect<void, SandboxError>
  /** With the `snapshot` capability: the snapshots this provider keeps for us. */
  readonly listSnapshots?: () => Effect.Effect<ReadonlyArray<SnapshotRef>, SandboxError>
  /** Delete a snapshot; one that is already gone is success. */
  readonly deleteSnapshot?: (id: string) => Effect.Effect<void, SandboxError>
}
