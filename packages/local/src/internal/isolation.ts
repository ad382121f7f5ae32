/**
 * Isolation tiers, best first: bubblewrap → unshare (namespaces) → a plain process. Probed once per process by
 * actually starting `/bin/true` inside each, so a kernel or AppArmor that blocks user namespaces is noticed.
 */
import { spawn } from "node:child_process"
import { existsSync, lstatSync, readlinkSync } from "node:fs"

export type Tier = "bubblewrap" | "namespaces" | "process"

export interface TierProbe {
  readonly tier: Tier
  /** Why better tiers were not used (empty when the best one works). */
  readonly reasons: ReadonlyArray<string>
}

const SEARCH_PATH = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]

export const findExecutable = (name: string): string | undefined =>
  SEARCH_PATH.map((dir) => `${dir}/${name}`).find((path) => existsSync(path))

/** Resource limits, applied as rlimits with `prlimit` (cgroup controllers are not delegated on most hosts). */
export interface Limits {
  /** Address space per process (RLIMIT_AS). */
  readonly memoryMiB?: number | undefined
  /** CPU seconds per process (RLIMIT_CPU); past it the process gets SIGXCPU, then SIGKILL. */
  readonly cpuSeconds?: number | undefined
  /** Processes of the sandbox's user (RLIMIT_NPROC). Only meaningful with a dedicated uid (see `uid`). */
  readonly processes?: number | undefined
  /** Largest file a process may write (RLIMIT_FSIZE); past it, SIGXFSZ. */
  readonly fileSizeMiB?: number | undefined
  /** Open file descriptors per process (RLIMIT_NOFILE). */
  readonly openFiles?: number | undefined
}

/** Where the sandbox sees its workspace, and what it may reach. */
export interface WrapOptions {
  readonly workspace: string
  readonly cwd: string
  readonly network: boolean
  readonly limits?: Limits | undefined
  /** Run as this host uid/gid (when we are root: a uid of the sandbox's own, so RLIMIT_NPROC and file modes bite). */
  readonly uid?: number | undefined
}

const MIB = 1024 * 1024

/** `prlimit --as=… -- ` (nothing when no limit is set or prlimit is missing). */
const limitPrefix = (limits: Limits | undefined): ReadonlyArray<string> => {
  if (limits === undefined) return []
  const prlimit = findExecutable("prlimit")
  if (prlimit === undefined) return []
  const args: Array<string> = []
  if (limits.memoryMiB !== undefined) args.push(`--as=${Math.floor(limits.memoryMiB * MIB)}`)
  if (limits.cpuSeconds !== undefined) args.push(`--cpu=${Math.ceil(limits.cpuSeconds)}`)
  if (limits.processes !== undefined) args.push(`--nproc=${limits.processes}`)
  if (limits.fileSizeMiB !== undefined) args.push(`--fsize=${Math.floor(limits.fileSizeMiB * MIB)}`)
  if (limits.openFiles !== undefined) args.push(`--nofile=${limits.openFiles}`)
  return args.length === 0 ? [] : [prlimit, ...args, "--"]
}

/** `setpriv --reuid=… -- ` to leave root before anything untrusted runs. */
export const privilegePrefix = (uid: number | undefined): ReadonlyArray<string> =>
  uid === undefined
    ? []
    : [findExecutable("setpriv") ?? "setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--"]

/** System directories visible read-only inside bubblewrap. Not /etc whole: it holds host secrets. */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
const ETC_ENTRIES = [
  "/etc/alternatives",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/passwd",
  "/etc/group",
  "/etc/nsswitch.conf",
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/localtime",
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/os-release",
  "/etc/debian_version",
  "/etc/mime.types",
  "/etc/protocols",
  "/etc/services"
]

const systemMounts = (): ReadonlyArray<string> => {
  const args: Array<string> = []
  for (const dir of SYSTEM_DIRS) {
    if (!existsSync(dir)) continue
    const info = lstatSync(dir)
    // Merged-/usr systems: /bin → usr/bin is a symlink; recreate it rather than binding the target twice.
    if (info.isSymbolicLink()) args.push("--symlink", readlinkSync(dir), dir)
    else args.push("--ro-bind", dir, dir)
  }
  for (const entry of ETC_ENTRIES) args.push("--ro-bind-try", entry, entry)
  return args
}

/**
 * The first process in the `namespaces` tier (pid 1 of the new pid namespace): its own hostname, then the command as
 * a child, so a death by signal comes back as 128+N (unshare itself reports signal deaths as 0 or 1). When it exits,
 * the kernel ends everything else in the namespace. No tmpfs over /tmp: the workspace usually lives under /tmp, and
 * hiding it would break absolute paths into it (the sandbox's TMPDIR is a directory of its own instead).
 */
const NAMESPACES_INIT = 'hostname sandbox 2>/dev/null; "$@"'

let cachedSystemMounts: ReadonlyArray<string> | undefined

/** The argv that runs `argv` inside the tier. */
export const wrapArgv = (tier: Tier, argv: ReadonlyArray<string>, options: WrapOptions): ReadonlyArray<string> => [
  ...limitPrefix(options.limits),
  ...privilegePrefix(options.uid),
  ...isolate(tier, argv, options)
]

const isolate = (tier: Tier, argv: ReadonlyArray<string>, options: WrapOptions): ReadonlyArray<string> => {
  switch (tier) {
    case "process":
      return argv
    case "namespaces":
      return [
        findExecutable("unshare") ?? "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "--pid",
        "--fork",
        "--mount-proc",
        "--ipc",
        "--uts",
        ...(options.network ? [] : ["--net"]),
        "--",
        "/bin/sh",
        "-c",
        NAMESPACES_INIT,
        "sandkit-init",
        ...argv
      ]
    case "bubblewrap": {
      cachedSystemMounts ??= systemMounts()
      return [
        findExecutable("bwrap") ?? "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        ...(options.network ? ["--share-net"] : ["--unshare-net"]),
        "--hostname",
        "sandbox",
        ...cachedSystemMounts,
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--symlink",
        "../tmp",
        "/var/tmp",
        "--bind",
        options.workspace,
        options.workspace,
        // Everything but /tmp and the workspace is read-only, the skeleton bubblewrap built included.
        "--remount-ro",
        "/",
        "--chdir",
        options.cwd,
        "--",
        ...argv
      ]
    }
  }
}

const runsTrue = (argv: ReadonlyArray<string>): Promise<string | undefined> =>
  new Promise((resolve) => {
    const [file, ...args] = argv
    let stderr = ""
    const child = spawn(file!, args, { stdio: ["ignore", "ignore", "pipe"] })
    child.stderr?.on("data", (chunk) => (stderr += String(chunk)))
    child.once("error", (error) => resolve(error.message))
    child.once("exit", (code) => resolve(code === 0 ? undefined : `exit ${code}: ${stderr.trim().slice(0, 300)}`))
  })

const probes = new Map<string, Promise<string | undefined>>()

/**
 * Does `tier` work on this host, run as `uid` (when dropping root)? `undefined` when it does, else the reason.
 * Cached per process. `directory` must be traversable by `uid`.
 */
export const probeTier = (tier: Tier, directory: string, uid?: number): Promise<string | undefined> => {
  const needs = [
    ...(tier === "process" ? [] : [tier === "bubblewrap" ? "bwrap" : "unshare"]),
    ...(uid === undefined ? [] : ["setpriv"])
  ]
  const missing = needs.find((binary) => findExecutable(binary) === undefined)
  if (missing !== undefined) return Promise.resolve(`${missing} is not installed`)
  const key = `${tier}:${uid ?? "self"}`
  let probe = probes.get(key)
  if (probe === undefined) {
    probe = runsTrue(wrapArgv(tier, ["/bin/true"], { workspace: directory, cwd: directory, network: false, uid }))
    probes.set(key, probe)
  }
  return probe
}

/** The best tier that works here, with the reasons the better ones were skipped. */
export const detectTier = async (directory: string, uid?: number): Promise<TierProbe> => {
  const reasons: Array<string> = []
  for (const tier of ["bubblewrap", "namespaces"] as const) {
    const failure = await probeTier(tier, directory, uid)
    if (failure === undefined) return { tier, reasons }
    reasons.push(`${tier}: ${failure}`)
  }
  return { tier: "process", reasons }
}
