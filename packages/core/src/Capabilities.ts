/**
 * What a provider can do, declared once per provider and checked by the conformance suite: a declared capability
 * must work, an undeclared one must fail with `Unsupported`.
 */

/** How strongly sandboxed code is kept away from the host. */
export type IsolationLevel =
  | "microvm" // a cloud VM (E2B Firecracker, Runloop, Daytona)
  | "container" // a cloud container (gVisor on Modal)
  | "bubblewrap" // local: user/pid/mount/ipc/uts namespaces via bubblewrap
  | "namespaces" // local: unshare user/mount/pid namespaces
  | "process" // local: a plain child process. Not a security boundary.

export interface Capabilities {
  /** Streaming output while a command runs (`execStream`). */
  readonly execStream: boolean
  /** Background processes (`spawn`) with `wait` and `kill`. */
  readonly spawn: boolean
  /** Writing to a running process's standard input. */
  readonly stdin: boolean
  /** Whether stdout and stderr arrive apart, or merged into stdout. */
  readonly output: "separate" | "merged"
  /** Reading and writing files. */
  readonly files: boolean
  /** Bulk directory upload / download. */
  readonly bulkTransfer: boolean
  /** A URL (and maybe a token) for a port inside the sandbox. */
  readonly exposePort: boolean
  /** Languages `runCode` accepts; empty when unsupported. */
  readonly runCode: ReadonlyArray<string>
  /** Changing the remaining lifetime of a running sandbox. */
  readonly setTimeout: boolean
  /** `pause` / `resume`. */
  readonly pause: boolean
  /** `sandbox.snapshot()`, `create({ from })`, `listSnapshots`, `deleteSnapshot`. Absent means false. */
  readonly snapshot?: boolean | undefined
  /** Provider-side images / templates / blueprints named in `SandboxSpec.image` or `template`. Absent means false. */
  readonly template?: boolean | undefined
  /** The isolation the sandboxes get. */
  readonly isolation: IsolationLevel
}

/** The capabilities that can be missing, by the name `Unsupported.capability` reports. */
export type OptionalCapability =
  | "execStream"
  | "spawn"
  | "stdin"
  | "files"
  | "bulkTransfer"
  | "exposePort"
  | "runCode"
  | "setTimeout"
  | "pause"
  | "snapshot"
  | "template"

export const optionalCapabilities = [
  "execStream",
  "spawn",
  "stdin",
  "files",
  "bulkTransfer",
  "exposePort",
  "runCode",
  "setTimeout",
  "pause",
  "snapshot",
  "template"
] as const satisfies ReadonlyArray<OptionalCapability>

export const hasCapability = (capabilities: Capabilities, name: OptionalCapability): boolean =>
  name === "runCode" ? capabilities.runCode.length > 0 : capabilities[name] === true
