/**
 * The machine and software a run happened on. Only facts about the host and the runtime are collected: never the
 * environment variables, never a credential, not the host name or user name.
 */
import { execFileSync } from "node:child_process"
import { arch, availableParallelism, cpus, freemem, loadavg, platform, release, totalmem, type } from "node:os"

export interface Environment {
  readonly runtime: { readonly name: "node" | "bun" | "deno"; readonly version: string }
  readonly versions: { readonly node?: string | undefined; readonly bun?: string | undefined; readonly deno?: string | undefined; readonly v8?: string | undefined }
  readonly os: { readonly platform: string; readonly type: string; readonly release: string; readonly arch: string }
  readonly cpu: { readonly model: string; readonly cores: number; readonly speedMHz?: number | undefined }
  readonly memory: { readonly totalBytes: number; readonly freeBytesAtStart: number }
  /** 1, 5 and 15 minute load averages when the run started (high values mean a busy machine). */
  readonly loadAverageAtStart: ReadonlyArray<number>
  readonly date: string
  readonly seed: number
  readonly git?: { readonly commit: string; readonly dirty: boolean } | undefined
  /** The isolation tier each provider reported (local: bubblewrap, namespaces or process). */
  readonly isolation: Readonly<Record<string, string>>
  readonly ci: boolean
  readonly runningAsRoot: boolean
}

const gitInfo = (): Environment["git"] => {
  const git = (args: ReadonlyArray<string>) =>
    execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 3000 }).trim()
  try {
    const commit = git(["rev-parse", "HEAD"])
    if (!/^[0-9a-f]{40}$/.test(commit)) return undefined
    const dirty = git(["status", "--porcelain", "--untracked-files=no"]).length > 0
    return { commit, dirty }
  } catch {
    return undefined
  }
}

export const collectEnvironment = (options: {
  readonly date: Date
  readonly seed: number
  readonly isolation: Readonly<Record<string, string>>
  readonly ci: boolean
}): Environment => {
  const versions = globalThis.process.versions as Record<string, string | undefined>
  const deno = (globalThis as { Deno?: { version?: { deno?: string } } }).Deno?.version?.deno
  const runtime: Environment["runtime"] = deno !== undefined
    ? { name: "deno", version: deno }
    : versions.bun !== undefined
    ? { name: "bun", version: versions.bun }
    : { name: "node", version: versions.node ?? "unknown" }
  const cpuList = cpus()
  return {
    runtime,
    versions: { node: versions.node, bun: versions.bun, deno, v8: versions.v8 },
    os: { platform: platform(), type: type(), release: release(), arch: arch() },
    cpu: { model: cpuList[0]?.model.trim() ?? "unknown", cores: availableParallelism(), speedMHz: cpuList[0]?.speed || undefined },
    memory: { totalBytes: totalmem(), freeBytesAtStart: freemem() },
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    date: options.date.toISOString(),
    seed: options.seed,
    git: gitInfo(),
    isolation: options.isolation,
    ci: options.ci,
    runningAsRoot: globalThis.process.getuid?.() === 0
  }
}

/** `Linux 6.8 x64 · AMD EPYC 7B13 · 2 cores · 7.8 GiB · node 24.11.0` */
export const describeMachine = (env: Environment): string =>
  `${env.os.type} ${env.os.release} ${env.os.arch} · ${env.cpu.model} · ${env.cpu.cores} cores · ` +
  `${(env.memory.totalBytes / 2 ** 30).toFixed(1)} GiB · ${env.runtime.name} ${env.runtime.version}`
