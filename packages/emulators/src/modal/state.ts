/**
 * What the Modal emulator keeps: per sandbox (the registry's `ext`) its task, app, name, tags, lifetime, ports and
 * execs; emulator-wide the apps, images, issued tokens, sandboxes that have finished (Modal still answers `wait` for
 * them, with their result) and the idempotency keys of creates.
 */
import type { EmulatedSandbox, Registry } from "../Registry.ts"
import type { ExecRecord } from "./exec.ts"
import { GenericStatus } from "./schema.ts"

export interface Tag {
  readonly tagName: string
  readonly tagValue: string
}

export interface GenericResult {
  readonly status: number
  readonly exception?: string
  readonly exitcode?: number
}

export interface PortSpec {
  readonly port: number
  readonly unencrypted: boolean
}

export interface ModalState {
  readonly taskId: string
  readonly appId: string
  readonly imageId: string
  /** Bearer token the command router accepts for this sandbox's task. */
  readonly routerJwt: string
  /** Seconds since the epoch (unique per sandbox, so list paging by timestamp is exact). */
  readonly createdAt: number
  readonly timeoutSecs: number
  readonly idleTimeoutSecs: number | undefined
  /** Where execs start when they name no workdir (a host path inside the workspace). */
  workdir: string
  name: string | undefined
  tags: ReadonlyArray<Tag>
  readonly ports: ReadonlyArray<PortSpec>
  readonly execs: Map<string, ExecRecord>
  /** Connect tokens handed out (`SandboxCreateConnectTokenV2`), by the path id of their URL. */
  readonly connectTokens: Map<string, { readonly port: number; readonly token: string }>
  /** A result set before removal (e.g. the entrypoint exited), used instead of the removal reason's. */
  result: GenericResult | undefined
}

export type ModalSandbox = EmulatedSandbox<ModalState>
export type ModalRegistry = Registry<ModalState>

export interface Tombstone {
  readonly id: string
  readonly appId: string
  readonly name: string | undefined
  readonly createdAt: number
  readonly result: GenericResult
}

export interface ImageRecord {
  readonly imageId: string
  readonly base: string | undefined
  /** The Dockerfile commands after `FROM`. */
  readonly commands: ReadonlyArray<string>
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

export const randomId = (length: number): string => {
  const bytes = new Uint8Array(length)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join("")
}

const base64url = (text: string): string =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")

/** An unsigned JWT (`alg: none`) with an `exp` claim: enough for the SDK, which only reads `exp`. */
export const makeJwt = (claims: Record<string, unknown>, lifetimeSecs: number): string => {
  const now = Math.floor(Date.now() / 1000)
  return `${base64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${
    base64url(JSON.stringify({ ...claims, iat: now, exp: now + lifetimeSecs, jti: randomId(24) }))
  }.${randomId(16)}`
}

/** The result a sandbox gets when it leaves the registry for `reason`. */
export const resultFor = (reason: "destroyed" | "expired" | "deleted" | "closed"): GenericResult =>
  reason === "expired"
    ? { status: GenericStatus.timeout, exception: "Sandbox timed out" }
    : { status: GenericStatus.terminated, exception: reason === "deleted" ? "Sandbox was deleted" : "Sandbox was terminated" }

export class World {
  /** `environment/name` → app id, and back. */
  readonly apps = new Map<string, string>()
  readonly appNames = new Map<string, { readonly name: string; readonly environment: string }>()
  readonly images = new Map<string, ImageRecord>()
  readonly imageKeys = new Map<string, string>()
  /** Published images (`images.fromName`): `environment/name:tag` → image id. */
  readonly published = new Map<string, string>()
  readonly tombstones = new Map<string, Tombstone>()
  readonly tasks = new Map<string, string>()
  readonly authTokens = new Set<string>()
  /** `x-modal-libmodal-version` of the clients seen (the schema is written for `modal-js/0.11.x`). */
  readonly clientVersions = new Set<string>()
  /** `x-idempotency-key` of a create → its answer (a retried create returns the same sandbox). */
  readonly creates = new Map<string, Promise<Record<string, unknown>>>()
  /** Long polls (`SandboxWaitV2`, `SandboxGetTaskIdV2`) waiting on a sandbox, woken when it ends. */
  readonly waiters = new Map<string, Set<() => void>>()
  private lastCreatedAt = 0

  /** A creation time, strictly increasing. */
  nextCreatedAt(): number {
    const now = Date.now() / 1000
    this.lastCreatedAt = now > this.lastCreatedAt ? now : this.lastCreatedAt + 0.000001
    return this.lastCreatedAt
  }

  wake(sandboxId: string): void {
    const waiting = this.waiters.get(sandboxId)
    if (waiting === undefined) return
    this.waiters.delete(sandboxId)
    for (const wake of waiting) wake()
  }

  /** Resolves when the sandbox ends, `ms` pass, or `signal` aborts. */
  waitForEnd(sandboxId: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(sandboxId)
      if (set === undefined) this.waiters.set(sandboxId, set = new Set())
      const waiting = set
      const done = () => {
        clearTimeout(timer)
        waiting.delete(done)
        signal.removeEventListener("abort", done)
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, ms))
      waiting.add(done)
      signal.addEventListener("abort", done, { once: true })
    })
  }

  /** Publish a built image under `name` (`name:tag`, `:latest` when no tag) in `environment`. */
  publish(name: string, imageId: string, environment = "main"): void {
    this.published.set(`${environment}/${name.includes(":") ? name : `${name}:latest`}`, imageId)
  }

  clear(): void {
    this.published.clear()
    this.tombstones.clear()
    this.creates.clear()
  }
}
