/**
 * Sandboxes on disk, so a second process on the same machine can `connect`, `list` and `reap` them:
 *   <root>/<id>/state.json   what the sandbox is (written atomically: temp file + rename)
 *   <root>/<id>/pids/<pid>   process groups started in it, for a cross-process destroy
 *   <root>/<id>/workspace/   the only writable place the sandboxed code sees
 *   <root>/<id>/tmp/         its TMPDIR in the `process` tier
 */
import { chmod, chown, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { Limits } from "./isolation.ts"

export interface SandboxState {
  readonly id: string
  readonly name?: string | undefined
  readonly labels: Record<string, string>
  readonly createdAt: number
  readonly expiresAt?: number | undefined
  readonly image?: string | undefined
  readonly env: Record<string, string>
  /** Default cwd, relative to the workspace. */
  readonly cwd: string
  readonly network: boolean
  /** The process that created it. */
  readonly ownerPid: number
  /** The host uid its commands run as, when Sandkit runs as root and drops privileges. */
  readonly uid?: number | undefined
  readonly limits?: Limits | undefined
}

export const sandboxDir = (root: string, id: string) => join(root, id)
export const workspaceDir = (root: string, id: string) => join(root, id, "workspace")
export const tmpDir = (root: string, id: string) => join(root, id, "tmp")
const pidsDir = (root: string, id: string) => join(root, id, "pids")
const statePath = (root: string, id: string) => join(root, id, "state.json")

/**
 * Create the root. When sandboxes run under their own uids, they must be able to traverse (not list) the root and
 * their sandbox directory to reach their workspace: 0711. Otherwise 0700.
 */
export const ensureRoot = async (root: string, traversable: boolean): Promise<void> => {
  await mkdir(root, { recursive: true, mode: 0o700 })
  await chmod(root, traversable ? 0o711 : 0o700)
}

export const createSandboxDirs = async (root: string, id: string, uid: number | undefined): Promise<void> => {
  await mkdir(sandboxDir(root, id), { mode: uid === undefined ? 0o700 : 0o711 })
  await Promise.all([
    mkdir(workspaceDir(root, id), { mode: 0o700 }),
    mkdir(tmpDir(root, id), { mode: 0o700 }),
    mkdir(pidsDir(root, id), { mode: 0o700 })
  ])
  if (uid !== undefined) {
    await chown(workspaceDir(root, id), uid, uid)
    await chown(tmpDir(root, id), uid, uid)
  }
}

const uidClaim = (root: string, uid: number) => join(root, ".uids", String(uid))

/** Claim `uid` for a sandbox (atomic: exclusive create); false when another sandbox has it. */
export const claimUid = async (root: string, uid: number, id: string): Promise<boolean> => {
  await mkdir(join(root, ".uids"), { recursive: true, mode: 0o700 })
  try {
    await writeFile(uidClaim(root, uid), id, { flag: "wx", mode: 0o600 })
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false
    throw error
  }
}

export const releaseUid = (root: string, uid: number) => rm(uidClaim(root, uid), { force: true })

export const writeState = async (root: string, state: SandboxState): Promise<void> => {
  const target = statePath(root, state.id)
  const temp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  await writeFile(temp, JSON.stringify(state), { mode: 0o600 })
  await rename(temp, target)
}

/** The state, or `undefined` when the sandbox does not exist (or is half-created / half-destroyed). */
export const readState = async (root: string, id: string): Promise<SandboxState | undefined> => {
  try {
    return JSON.parse(await readFile(statePath(root, id), "utf8")) as SandboxState
  } catch {
    return undefined
  }
}

export const listIds = async (root: string): Promise<ReadonlyArray<string>> => {
  try {
    return (await readdir(root, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => e.name)
  } catch {
    return []
  }
}

export const recordPid = (root: string, id: string, pid: number) =>
  writeFile(join(pidsDir(root, id), String(pid)), "").catch(() => undefined)

export const forgetPid = (root: string, id: string, pid: number) =>
  rm(join(pidsDir(root, id), String(pid)), { force: true }).catch(() => undefined)

export const recordedPids = async (root: string, id: string): Promise<ReadonlyArray<number>> => {
  try {
    return (await readdir(pidsDir(root, id))).map(Number).filter((n) => Number.isInteger(n) && n > 1)
  } catch {
    return []
  }
}

/** Remove the state first (so the sandbox stops being listed at once), then the directory. */
export const removeSandbox = async (root: string, id: string, uid?: number): Promise<void> => {
  await rm(statePath(root, id), { force: true })
  await rm(sandboxDir(root, id), { recursive: true, force: true, maxRetries: 3 })
  if (uid !== undefined) await releaseUid(root, uid)
}
