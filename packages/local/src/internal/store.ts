/**
 * Sandboxes on disk, so a second process on the same machine can `connect`, `list` and `reap` them:
 *   <root>/<id>/state.json   what the sandbox is (written atomically: temp file + rename)
 *   <root>/<id>/pids/<pid>   process groups started in it, for a cross-process destroy
 *   <root>/<id>/workspace/   the only writable place the sandboxed code sees
 *   <root>/<id>/tmp/         its TMPDIR in the `process` tier
 *   <root>/.removing/        sandbox directories moved aside by destroy while they are deleted
 */
import { constants } from "node:fs"
import { chmod, chown, cp, lchown, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises"
import { basename, dirname, join, resolve } from "node:path"
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
const removalsDir = (root: string) => join(root, ".removing")

/**
 * Create the root. When sandboxes run under their own uids, they must be able to traverse (not list) the root and
 * their sandbox directory to reach their workspace: 0711. Otherwise 0700.
 */
export const ensureRoot = async (root: string, traversable: boolean): Promise<void> => {
  await mkdir(root, { recursive: true, mode: 0o700 })
  await chmod(root, traversable ? 0o711 : 0o700)
}

/**
 * The first parent of `root` that other users cannot enter (no `o+x`), if any. A sandbox's own uid is such an other
 * user: below such a parent, its commands can use relative paths but not the absolute path of their workspace.
 */
export const closedAncestor = async (root: string): Promise<string | undefined> => {
  for (let dir = dirname(resolve(root)); ; dir = dirname(dir)) {
    const mode = await stat(dir).then((s) => s.mode, () => undefined)
    if (mode !== undefined && (mode & 0o001) === 0) return dir
    if (dirname(dir) === dir) return undefined
  }
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

/**
 * Remove a directory that writes may still be racing into. A recursive `rm` alone can fail with ENOTEMPTY when a
 * write creates an entry between its listing and its rmdir; a rename is atomic, and writes resolve paths by name, so
 * after the move no new write can reach the tree (at most one already inside a syscall can land in it).
 */
export const removeRacingWrites = async (dir: string, graveyard: string): Promise<void> => {
  await mkdir(graveyard, { recursive: true, mode: 0o700 })
  // The time in the name lets `sweepRemovals` tell an abandoned grave from one a removal is still deleting.
  const grave = join(graveyard, `${Date.now()}-${basename(dir)}-${process.pid}-${Math.random().toString(36).slice(2)}`)
  try {
    await rename(dir, grave)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return
    throw error
  }
  await rm(grave, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 })
}

/**
 * Delete what a removal moved aside and then failed to delete (e.g. a process killed mid-way), once it is old enough
 * that no removal can still be working on it. Best effort: a failure here only leaves disk space in use.
 */
export const sweepRemovals = async (root: string, olderThanMs = 10 * 60_000): Promise<void> => {
  const graveyard = removalsDir(root)
  const graves = await readdir(graveyard).catch(() => [] as Array<string>)
  await Promise.all(graves.map(async (grave) => {
    const movedAt = Number(grave.split("-")[0])
    if (Number.isFinite(movedAt) && Date.now() - movedAt > olderThanMs) {
      await rm(join(graveyard, grave), { recursive: true, force: true }).catch(() => undefined)
    }
  }))
}

/** Remove the state first (so the sandbox stops being listed at once), then the directory. */
export const removeSandbox = async (root: string, id: string, uid?: number): Promise<void> => {
  await rm(statePath(root, id), { force: true })
  await removeRacingWrites(sandboxDir(root, id), removalsDir(root))
  if (uid !== undefined) await releaseUid(root, uid)
}

// ---------------------------------------------------------------------------------------------------------------
// Snapshots: <root>/.snapshots/<id>/files is a copy of a workspace, <root>/.snapshots/<id>/snapshot.json describes it.
// ---------------------------------------------------------------------------------------------------------------

export interface SnapshotState {
  readonly id: string
  readonly createdAt: number
  readonly sizeBytes: number
  readonly sourceSandboxId: string
}

const snapshotsDir = (root: string) => join(root, ".snapshots")
const snapshotDir = (root: string, id: string) => join(snapshotsDir(root), id)
export const snapshotFiles = (root: string, id: string) => join(snapshotDir(root, id), "files")

/** Copy-on-write where the file system can (reflink: btrfs, XFS), a plain copy otherwise. */
const copyTree = (from: string, to: string) =>
  cp(from, to, { recursive: true, mode: constants.COPYFILE_FICLONE, verbatimSymlinks: true, errorOnExist: true })

const treeSize = async (path: string): Promise<number> => {
  let total = 0
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size
  }
  return total
}

export const writeSnapshot = async (root: string, id: string, workspace: string, sourceSandboxId: string): Promise<SnapshotState> => {
  await mkdir(snapshotsDir(root), { recursive: true, mode: 0o700 })
  await mkdir(snapshotDir(root, id), { mode: 0o700 })
  try {
    await copyTree(workspace, snapshotFiles(root, id))
    const state: SnapshotState = { id, createdAt: Date.now(), sizeBytes: await treeSize(snapshotFiles(root, id)), sourceSandboxId }
    // Written last: a snapshot without its description is incomplete and not listed.
    await writeFile(join(snapshotDir(root, id), "snapshot.json"), JSON.stringify(state), { mode: 0o600 })
    return state
  } catch (error) {
    await rm(snapshotDir(root, id), { recursive: true, force: true })
    throw error
  }
}

export const readSnapshot = async (root: string, id: string): Promise<SnapshotState | undefined> => {
  try {
    return JSON.parse(await readFile(join(snapshotDir(root, id), "snapshot.json"), "utf8")) as SnapshotState
  } catch {
    return undefined
  }
}

export const listSnapshots = async (root: string): Promise<ReadonlyArray<SnapshotState>> => {
  let ids: Array<string>
  try {
    ids = await readdir(snapshotsDir(root))
  } catch {
    return []
  }
  const states = await Promise.all(ids.map((id) => readSnapshot(root, id)))
  return states.filter((s): s is SnapshotState => s !== undefined).sort((a, b) => a.createdAt - b.createdAt)
}

export const removeSnapshot = async (root: string, id: string): Promise<void> => {
  await rm(join(snapshotDir(root, id), "snapshot.json"), { force: true })
  await rm(snapshotDir(root, id), { recursive: true, force: true })
}

/** Fill a new workspace from a snapshot, owned by the sandbox's uid when it has one. */
export const restoreSnapshot = async (root: string, snapshotId: string, workspace: string, uid: number | undefined) => {
  await cp(snapshotFiles(root, snapshotId), workspace, {
    recursive: true,
    mode: constants.COPYFILE_FICLONE,
    verbatimSymlinks: true,
    force: true
  })
  if (uid === undefined) return
  for (const entry of await readdir(workspace, { withFileTypes: true, recursive: true })) {
    await lchown(join(entry.parentPath, entry.name), uid, uid)
  }
}
