/**
 * The file API of a local sandbox: paths resolve inside its workspace and cannot leave it (`..`, absolute paths
 * elsewhere, symlinks pointing out → `PermissionDenied`). Errors map onto the core's tagged errors.
 */
import type { DriverFiles, FileData, FileEntry, SandboxError } from "@sandkit/core"
import { FileNotFound, InvalidRequest, PermissionDenied, ProviderError } from "@sandkit/core"
import { Effect, Stream } from "effect"
import { execFile } from "node:child_process"
import { chown, lstat, mkdir, readdir, readFile, realpath, rm, stat, writeFile } from "node:fs/promises"
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path"
import { privilegePrefix } from "./isolation.ts"

const PROVIDER = "local"

const errno = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code

export const mapFsError = (sandboxId: string, path: string) => (error: unknown): SandboxError => {
  const code = errno(error)
  const base = { provider: PROVIDER, sandboxId, cause: error }
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
      return new FileNotFound({ ...base, path, message: `no such file or directory: ${path}` })
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return new PermissionDenied({ ...base, message: `permission denied: ${path}` })
    case "EISDIR":
      return new InvalidRequest({ ...base, field: "path", message: `is a directory: ${path}` })
    default:
      return new ProviderError({ ...base, message: `${code ?? "error"} on ${path}: ${String((error as Error)?.message ?? error)}` })
  }
}

const isInside = (root: string, candidate: string) => candidate === root || candidate.startsWith(root + sep)

/** The deepest existing ancestor's real path, joined with the rest: where a write would really land. */
const realLocation = async (path: string): Promise<string> => {
  let existing = path
  const rest: Array<string> = []
  for (;;) {
    try {
      return join(await realpath(existing), ...rest.reverse())
    } catch (error) {
      if (errno(error) !== "ENOENT" && errno(error) !== "ENOTDIR") throw error
      const parent = dirname(existing)
      if (parent === existing) return path
      rest.push(basename(existing))
      existing = parent
    }
  }
}

/** Resolve a sandbox path to a host path inside the workspace, or fail with `PermissionDenied`. */
export const resolveInWorkspace = (workspace: string, sandboxId: string, path: string) =>
  Effect.tryPromise({
    try: async () => {
      const target = isAbsolute(path) ? resolve(path) : resolve(workspace, path)
      const realWorkspace = await realpath(workspace)
      if (!isInside(workspace, target) || !isInside(realWorkspace, await realLocation(target))) {
        throw Object.assign(new Error("outside the workspace"), { code: "ESCAPE" })
      }
      return target
    },
    catch: (error): SandboxError =>
      errno(error) === "ESCAPE"
        ? new PermissionDenied({
          provider: PROVIDER,
          sandboxId,
          message: `path ${JSON.stringify(path)} is outside the sandbox workspace ${workspace}`
        })
        : mapFsError(sandboxId, path)(error)
  })

const entryType = (info: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): FileEntry["type"] =>
  info.isSymbolicLink() ? "symlink" : info.isDirectory() ? "directory" : info.isFile() ? "file" : "other"

/**
 * `mkdir -p` as `uid`, through `setpriv` as the sandbox's commands are (not `execFile`'s `uid` option, which Deno
 * does not implement); false when that failed (the caller then falls back to mkdir + chown).
 */
const mkdirAs = async (uid: number, dir: string): Promise<boolean> => {
  if (await lstat(dir).then(() => true, () => false)) return true
  const [command, ...args] = [...privilegePrefix(uid), "mkdir", "-p", "--", dir]
  return new Promise((resolve) => {
    try {
      execFile(command!, args, (error) => resolve(error === null))
    } catch {
      resolve(false)
    }
  })
}

/**
 * `owner`: the uid the sandbox's commands run as. Files and directories created through this API are given to it,
 * so the sandboxed code can change what the host wrote.
 */
export const makeFiles = (workspace: string, sandboxId: string, owner?: number): DriverFiles => {
  const makeDirectory = async (dir: string) => {
    // Made by the sandbox's own uid when there is one: a directory made by root and given away after was, for a
    // moment, one the sandbox could not write in (a sandboxed `mkdir -p d && mkfifo d/f` racing a write failed).
    if (owner !== undefined && await mkdirAs(owner, dir) && (await stat(dir)).uid === owner) return
    // One level at a time below the workspace, never the workspace itself: a write racing the sandbox's destroy must
    // fail (ENOENT) rather than bring the removed workspace back, where it would outlive the sandbox on disk.
    let path = workspace
    for (const part of relative(workspace, dir).split(sep).filter((p) => p !== "" && p !== ".")) {
      path = join(path, part)
      const made = await mkdir(path).then(() => true, (error: NodeJS.ErrnoException) => {
        if (error.code === "EEXIST") return false
        throw error
      })
      if (made && owner !== undefined) await chown(path, owner, owner)
    }
  }
  const writeOwned = async (path: string, data: Uint8Array) => {
    await makeDirectory(dirname(path))
    await writeFile(path, data)
    if (owner !== undefined) await chown(path, owner, owner)
  }

  const at = <A>(path: string, f: (hostPath: string) => Promise<A>) =>
    Effect.flatMap(resolveInWorkspace(workspace, sandboxId, path), (hostPath) =>
      Effect.tryPromise({ try: () => f(hostPath), catch: mapFsError(sandboxId, path) }))

  const toEntry = async (hostPath: string): Promise<FileEntry> => {
    const info = await lstat(hostPath)
    return {
      name: basename(hostPath),
      path: hostPath,
      type: entryType(info),
      size: info.size,
      modifiedAt: info.mtime
    }
  }

  const walk = (root: string, prefix: string): Stream.Stream<FileData, SandboxError> =>
    Stream.unwrap(
      Effect.tryPromise({
        try: () => readdir(join(root, prefix), { withFileTypes: true }),
        catch: mapFsError(sandboxId, join(root, prefix))
      }).pipe(
        Effect.map((entries) =>
          Stream.fromIterable(entries.sort((a, b) => a.name.localeCompare(b.name))).pipe(
            Stream.flatMap((entry) => {
              const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`
              if (entry.isDirectory()) return walk(root, rel)
              if (!entry.isFile()) return Stream.empty
              return Stream.fromEffect(
                Effect.tryPromise({
                  try: async () => ({ path: rel, data: new Uint8Array(await readFile(join(root, rel))) }),
                  catch: mapFsError(sandboxId, rel)
                })
              )
            })
          )
        )
      )
    )

  return {
    read: (path) => at(path, async (p) => new Uint8Array(await readFile(p))),
    write: (path, data) => at(path, (p) => writeOwned(p, data)),
    list: (path) =>
      at(path, async (p) => {
        const names = (await readdir(p)).sort()
        return Promise.all(names.map((name) => toEntry(join(p, name))))
      }),
    mkdir: (path) => at(path, makeDirectory),
    remove: (path) =>
      at(path, async (p) => {
        if (p === workspace) throw Object.assign(new Error("refusing to remove the workspace root"), { code: "EPERM" })
        await rm(p, { recursive: true, force: true })
      }),
    stat: (path) => at(path, toEntry),
    upload: (directory, files) =>
      Effect.flatMap(resolveInWorkspace(workspace, sandboxId, directory), (dir) =>
        files.pipe(
          Stream.mapEffect((file) =>
            at(join(dir, file.path), (p) => writeOwned(p, file.data))
          ),
          Stream.runFold(() => 0, (n) => n + 1)
        )),
    download: (directory) =>
      Stream.unwrap(
        Effect.flatMap(resolveInWorkspace(workspace, sandboxId, directory), (dir) =>
          Effect.tryPromise({ try: () => stat(dir), catch: mapFsError(sandboxId, directory) }).pipe(
            Effect.map(() => walk(dir, ""))
          ))
      )
  }
}

