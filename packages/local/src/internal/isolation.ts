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

/** Where the sandbox sees its workspace, and what it may reach. */
export interface WrapOptions {
  readonly workspace: string
  readonly cwd: string
  readonly network: boolean
}

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

let cachedSystemMounts: ReadonlyArray<string> | undefined

/** The argv that runs `argv` inside the tier. */
export const wrapArgv = (tier: Tier, argv: ReadonlyArray<string>, options: WrapOptions): ReadonlyArray<string> => {
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
        "--kill-child",
        "--mount-proc",
        "--ipc",
        "--uts",
        ...(options.network ? [] : ["--net"]),
        "--",
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
        "--dir",
        "/var/tmp",
        "--bind",
        options.workspace,
        options.workspace,
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

/** Does `tier` work on this host? `undefined` when it does, else the reason. Cached per process. */
export const probeTier = (tier: Tier, workspace: string): Promise<string | undefined> => {
  if (tier === "process") return Promise.resolve(undefined)
  const binary = tier === "bubblewrap" ? "bwrap" : "unshare"
  if (findExecutable(binary) === undefined) return Promise.resolve(`${binary} is not installed`)
  let probe = probes.get(tier)
  if (probe === undefined) {
    probe = runsTrue(wrapArgv(tier, ["/bin/true"], { workspace, cwd: workspace, network: false }))
    probes.set(tier, probe)
  }
  return probe
}

/** The best tier that works here, with the reasons the better ones were skipped. */
export const detectTier = async (workspace: string): Promise<TierProbe> => {
  const reasons: Array<string> = []
  for (const tier of ["bubblewrap", "namespaces"] as const) {
    const failure = await probeTier(tier, workspace)
    if (failure === undefined) return { tier, reasons }
    reasons.push(`${tier}: ${failure}`)
  }
  return { tier: "process", reasons }
}
