/**
 * The raw baseline of the local provider (`--baseline raw`): the same operations without Sandkit, so the report shows
 * what the Sandkit layer costs on top of the floor of the isolation tier.
 *
 * - create  = make a workspace directory (owned by an unprivileged uid when we are root, as the provider does)
 * - exec    = a bare `child_process.spawn` of the tier's own command line: `bwrap …`, `unshare …` or `/bin/sh -c`,
 *             behind the same `prlimit` (and, as root, `setpriv`) prefixes
 * - files   = `fs.writeFile` / `fs.readFile` in the workspace
 * - destroy = kill anything left in its process groups, remove the directory
 *
 * It is a close approximation of what the provider runs, written here on purpose (the bench does not reach into the
 * provider's internals): fewer `/etc` entries are bound, and no state file or uid claim is written.
 */
import type { IsolationLevel } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { Effect, type Scope } from "effect"
import { spawn } from "node:child_process"
import { existsSync, lstatSync, readlinkSync } from "node:fs"
import { chown, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { constants, tmpdir } from "node:os"
import { join } from "node:path"
import { BenchFailure, type BenchHandle, type BenchTarget, type LeakReport } from "../target.ts"

const BIN_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]
const which = (name: string): string | undefined => BIN_DIRS.map((d) => `${d}/${name}`).find((p) => existsSync(p))

/** The uid raw sandboxes run as when we are root (`nobody`). */
const RAW_UID = 65534
const MIB = 1024 * 1024

const prefixes = (asRoot: boolean): Array<string> => {
  const out: Array<string> = []
  const prlimit = which("prlimit")
  const limits = LocalProvider.defaultLimits
  if (prlimit !== undefined) {
    out.push(prlimit, `--as=${(limits.memoryMiB ?? 8192) * MIB}`, `--fsize=${(limits.fileSizeMiB ?? 8192) * MIB}`, `--nofile=${limits.openFiles ?? 4096}`)
    if (asRoot) out.push(`--nproc=${limits.processes ?? 1024}`)
    out.push("--")
  }
  if (asRoot) out.push(which("setpriv") ?? "setpriv", `--reuid=${RAW_UID}`, `--regid=${RAW_UID}`, "--clear-groups", "--")
  return out
}

const bubblewrapMounts = (): Array<string> => {
  const args: Array<string> = []
  for (const dir of ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"]) {
    if (!existsSync(dir)) continue
    if (lstatSync(dir).isSymbolicLink()) args.push("--symlink", readlinkSync(dir), dir)
    else args.push("--ro-bind", dir, dir)
  }
  for (const file of ["/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf"]) args.push("--ro-bind-try", file, file)
  return args
}

/** The argv that runs `/bin/sh -c command` in `workspace` inside `tier`, without network. */
export const rawArgv = (tier: IsolationLevel, workspace: string, command: string, asRoot: boolean, mounts: ReadonlyArray<string>): Array<string> => {
  const shell = ["/bin/sh", "-c", command]
  switch (tier) {
    case "bubblewrap":
      return [
        ...prefixes(asRoot),
        which("bwrap") ?? "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        ...mounts,
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--bind", workspace, workspace,
        "--remount-ro", "/",
        "--chdir", workspace,
        "--",
        ...shell
      ]
    case "namespaces":
      return [
        ...prefixes(asRoot),
        which("unshare") ?? "unshare",
        "--user", "--map-root-user", "--mount", "--pid", "--fork", "--mount-proc", "--ipc", "--uts", "--net",
        "--",
        ...shell
      ]
    default:
      return [...prefixes(asRoot), ...shell]
  }
}

const failure = (tag: string) => (error: unknown) =>
  new BenchFailure({ tag, message: error instanceof Error ? error.message : String(error) })

/** Spawn, collect stdout, and kill the whole process group if interrupted. */
const spawnCollect = (argv: ReadonlyArray<string>, cwd: string, env: Record<string, string>, groups: Set<number>) =>
  Effect.callback<{ exitCode: number; stdout: string }, BenchFailure>((resume) => {
    const [file, ...args] = argv
    const child = spawn(file!, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true })
    const pid = child.pid
    if (pid !== undefined) groups.add(pid)
    let stdout = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr!.resume()
    child.once("error", (error) => {
      if (pid !== undefined) groups.delete(pid)
      resume(Effect.fail(failure("SpawnFailed")(error)))
    })
    child.once("close", (code, signal) => {
      if (pid !== undefined) groups.delete(pid)
      resume(Effect.succeed({ exitCode: code ?? 128 + (signal === null ? 0 : constants.signals[signal]), stdout }))
    })
    return Effect.sync(() => {
      if (pid !== undefined) killGroup(pid)
    })
  })

const killGroup = (pid: number) => {
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // already gone
  }
}

/**
 * The raw local target for the tier the local provider uses here. Its directory (under the OS temp dir, named after
 * the run) is removed when the scope closes.
 */
export const localRawTarget = (options: {
  readonly tier: IsolationLevel
  readonly runId: string
}): Effect.Effect<BenchTarget, BenchFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const { tier, runId } = options
    if (tier === "bubblewrap" && which("bwrap") === undefined) return yield* new BenchFailure({ tag: "Unavailable", message: "bwrap not found" })
    if (tier === "namespaces" && which("unshare") === undefined) return yield* new BenchFailure({ tag: "Unavailable", message: "unshare not found" })
    const asRoot = process.getuid?.() === 0
    const root = join(tmpdir(), `sandkit-bench-raw-${runId}`)
    yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => mkdir(root, { recursive: true, mode: 0o711 }), catch: failure("ProviderError") }),
      () => Effect.promise(() => rm(root, { recursive: true, force: true }))
    )
    const mounts = tier === "bubblewrap" ? bubblewrapMounts() : []
    let counter = 0

    const create: BenchTarget["create"] = Effect.gen(function*() {
      const id = `raw-${++counter}`
      const dir = join(root, id)
      const workspace = join(dir, "workspace")
      const groups = new Set<number>()
      let destroyed = false
      const destroyNow = Effect.tryPromise({
        try: async () => {
          for (const pid of groups) killGroup(pid)
          await rm(dir, { recursive: true, force: true })
        },
        catch: failure("ProviderError")
      })
      yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            await mkdir(dir, { mode: 0o711 })
            await mkdir(workspace, { mode: 0o700 })
            if (asRoot) await chown(workspace, RAW_UID, RAW_UID)
          },
          catch: failure("ProviderError")
        }),
        () => destroyed ? Effect.void : Effect.ignore(destroyNow)
      )
      const env = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: workspace, LANG: "C.UTF-8" }
      const handle: BenchHandle = {
        id,
        exec: (command) => spawnCollect(rawArgv(tier, workspace, command, asRoot, mounts), workspace, env, groups),
        write: (path, data) => Effect.tryPromise({ try: () => writeFile(join(workspace, path), data), catch: failure("ProviderError") }),
        read: (path) => Effect.tryPromise({ try: () => readFile(join(workspace, path)), catch: failure("FileNotFound") }),
        destroy: destroyNow.pipe(Effect.tap(() => Effect.sync(() => (destroyed = true))))
      }
      return handle
    })

    const leakCheck: Effect.Effect<LeakReport> = Effect.promise(async () => {
      const left = await readdir(root).catch(() => [] as Array<string>)
      await Promise.all(left.map((id) => rm(join(root, id), { recursive: true, force: true })))
      return { target: `local:raw`, found: left, reaped: left, failed: [] }
    })

    return {
      key: "local:raw",
      provider: "local",
      kind: "local",
      variant: "raw",
      label: "local (raw baseline)",
      details: { isolation: tier, method: "bare child_process.spawn of the tier's command line; fs for files" },
      create,
      leakCheck
    } satisfies BenchTarget
  })
