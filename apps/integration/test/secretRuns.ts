/**
 * The programs the secrets audit runs as child processes, with the fake keys in their environment: every
 * provider's plain conformance runner, the bench (emulated, and live against clouds it cannot reach), the CLI, and
 * the soak when it exists. Each run's stdout and stderr are captured whole; `outDir` collects the files they write.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

export interface RunSpec {
  readonly label: string
  /** Arguments after `node --conditions=@sandkit/source`, relative to the repository root. */
  readonly args: ReadonlyArray<string>
  /** What a good run shows (beyond not leaking): checked by the test. */
  readonly expect: (run: RunResult) => string | undefined
  /** Runs mostly waiting on the network (no CPU): scheduled beside the others rather than in the pool. */
  readonly idle?: boolean
}

export interface RunResult {
  readonly label: string
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const exitZero = (run: RunResult) => run.code === 0 ? undefined : `exited ${run.code}`
const conformancePassed = (run: RunResult) =>
  exitZero(run) ?? (/\b\d+ passed, 0 failed\b/.test(run.stdout) ? undefined : "no \"N passed, 0 failed\" line")

const SOAK = "apps/integration/src/soak/main.ts"

/** Every run of the audit; `outDir` is where they write files. */
export const runSpecs = (outDir: string): ReadonlyArray<RunSpec> => {
  const small = ["--iterations", "1", "--bursts", "1", "--concurrency", "1", "--warmup", "0", "--seed", "1"]
  const clouds = ["e2b", "daytona", "modal", "runloop"]
  return [
    ...["local", ...clouds].map((provider): RunSpec => ({
      label: `conformance ${provider}`,
      args: [`packages/${provider}/test/conformance.run.ts`],
      expect: conformancePassed
    })),
    {
      label: "bench --emulate",
      args: [
        "apps/bench/src/main.ts",
        "--emulate",
        "--providers",
        ["local", ...clouds.map((c) => `${c}-emulated`)].join(","),
        ...small,
        "--out",
        join(outDir, "bench-emulated")
      ],
      expect: (run) => exitZero(run) ?? (existsSync(join(outDir, "bench-emulated", "results.json")) ? undefined : "no results.json")
    },
    {
      // Live with the fake keys: no cloud is reachable here, so every call fails, and the failures are reported.
      label: "bench live (unreachable clouds)",
      args: ["apps/bench/src/main.ts", "--providers", clouds.join(","), ...small, "--out", join(outDir, "bench-live")],
      idle: true,
      expect: (run) =>
        !existsSync(join(outDir, "bench-live", "results.json"))
          ? "no results.json"
          : /ProviderUnavailable|AuthenticationFailed/.test(run.stdout + run.stderr)
          ? undefined
          : "no failure reported"
    },
    // The CLI: a sandbox's environment must not inherit the host's keys, and live failures render without them.
    ...["local", ...clouds].map((provider): RunSpec => ({
      label: `cli exec ${provider} -- env`,
      args: ["apps/cli/src/main.ts", "exec", ...(provider === "local" ? [] : ["--emulate"]), provider, "--", "env"],
      expect: (run) => exitZero(run) ?? (/^PATH=/m.test(run.stdout) ? undefined : "no environment printed")
    })),
    {
      label: "cli ls --verbose (unreachable clouds)",
      args: ["apps/cli/src/main.ts", "ls", "--verbose"],
      idle: true,
      expect: (run) => /ProviderUnavailable/.test(run.stdout + run.stderr) ? undefined : "no failure reported"
    },
    // The reliability soak, once it exists (apps/integration/src/soak/main.ts): a short seeded run.
    ...(existsSync(join(repoRoot, SOAK))
      ? [{
        label: "soak",
        args: [SOAK, "--seed", "1", "--scenarios", "20", "--json", join(outDir, "soak.json")],
        expect: () => undefined
      }]
      : [])
  ]
}

export const soakPresent = (): boolean => existsSync(join(repoRoot, SOAK))

/** Run one program to its end (killed after `timeoutMs`), its output captured. */
export const runOne = (spec: RunSpec, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ["--conditions=@sandkit/source", ...spec.args], {
      cwd: repoRoot,
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => void (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ label: spec.label, code, stdout, stderr })
    })
  })

/** Run every spec: the busy ones `width` at a time, the idle ones alongside them. */
export const runAll = async (
  specs: ReadonlyArray<RunSpec>,
  env: NodeJS.ProcessEnv,
  options: { readonly width: number; readonly timeoutMs: number }
): Promise<ReadonlyArray<RunResult>> => {
  const idle = specs.filter((s) => s.idle === true).map((s) => runOne(s, env, options.timeoutMs))
  const busy = specs.filter((s) => s.idle !== true)
  const results: Array<RunResult> = []
  let next = 0
  const worker = async () => {
    while (next < busy.length) {
      const spec = busy[next++]!
      results.push(await runOne(spec, env, options.timeoutMs))
    }
  }
  await Promise.all(Array.from({ length: options.width }, worker))
  return [...results, ...(await Promise.all(idle))]
}
