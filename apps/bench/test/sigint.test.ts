/**
 * Ctrl-C during a concurrent burst: the bench CLI (run from source as a child process) must destroy every sandbox,
 * leave no process behind, and still write its partial results. Nothing here depends on how long anything takes:
 * the test waits for conditions (a burst under way, sandboxes listed), never for a duration.
 */
import { makeProvider, type SandboxProviderShape } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { ResultsFile } from "../src/results.ts"

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..")

interface ProcInfo {
  readonly pid: number
  readonly ppid: number
  readonly state: string
  readonly start: string
}

const readProc = (pid: number): ProcInfo | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice num_threads itrealvalue starttime
    return { pid, ppid: Number(fields[1]), state: fields[0]!, start: fields[19]! }
  } catch {
    return undefined
  }
}

const allProcs = (): Array<ProcInfo> =>
  readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map((d) => readProc(Number(d))).filter((p): p is ProcInfo => p !== undefined)

/** Every process below `root` in the parent tree, now. */
const descendants = (root: number): Array<ProcInfo> => {
  const procs = allProcs()
  const out: Array<ProcInfo> = []
  const frontier = [root]
  while (frontier.length > 0) {
    const parent = frontier.pop()!
    for (const p of procs) {
      if (p.ppid === parent) {
        out.push(p)
        frontier.push(p.pid)
      }
    }
  }
  return out
}

/** Still running (same pid *and* start time, so a recycled pid does not count; a zombie is dead). */
const stillRunning = (p: ProcInfo) => {
  const now = readProc(p.pid)
  return now !== undefined && now.start === p.start && now.state !== "Z"
}

/** Processes whose command line or working directory mentions `path`. */
const processesUnder = (path: string): Array<string> =>
  allProcs().flatMap((p) => {
    const hits: Array<string> = []
    try {
      if (readFileSync(`/proc/${p.pid}/cmdline`, "utf8").includes(path) && p.state !== "Z") hits.push(`${p.pid} (cmdline)`)
    } catch {
      // gone
    }
    try {
      if (readlinkSync(`/proc/${p.pid}/cwd`).startsWith(path) && p.state !== "Z") hits.push(`${p.pid} (cwd)`)
    } catch {
      // gone or not ours to read
    }
    return hits
  })

describe.skipIf(process.platform !== "linux")("Ctrl-C during a concurrent burst", () => {
  const dir = mkdtempSync(join(tmpdir(), "sandkit-bench-sigint-"))
  const root = join(dir, "root")
  const out = join(dir, "out")
  const runId = "rsiginttest1"
  mkdirSync(root)
  let provider: SandboxProviderShape | undefined

  afterAll(async () => {
    // Whatever happened, leave nothing behind.
    if (provider !== undefined) await Effect.runPromise(Effect.ignore(provider.reap({ labels: { "sandkit.run": runId } })))
    rmSync(dir, { recursive: true, force: true })
  })

  it("destroys every sandbox, leaves no process, writes partial results", async () => {
    provider = makeProvider(await Effect.runPromise(LocalProvider.make({ root })))
    const listed = () => Effect.runPromise(provider!.list({ labels: { "sandkit.run": runId } }))

    const child = spawn(process.execPath, [
      "--conditions=@sandkit/source",
      join(appDir, "src", "main.ts"),
      "--iterations", "1",
      "--warmup", "0",
      "--concurrency", "1,20",
      "--bursts", "1000",
      "--seed", "7",
      "--run-id", runId,
      "--out", out
    ], { cwd: appDir, env: { ...process.env, SANDKIT_LOCAL_ROOT: root, CI: "1" }, stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    let stdout = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    let seen = new Map<string, ProcInfo>()
    try {
      // 1. Wait until the bench says it is in a concurrent burst and sandboxes of this run exist.
      let inBurst = false
      for (let attempt = 0; attempt < 3000 && !inBurst; attempt++) {
        if (child.exitCode !== null) break
        if (stderr.includes("burst c=20")) {
          const live = await listed()
          for (const p of descendants(child.pid!)) seen.set(`${p.pid}/${p.start}`, p)
          inBurst = live.length > 0
        }
        if (!inBurst) await new Promise((r) => setTimeout(r, 10))
      }
      expect(inBurst, `the bench never reached a burst with live sandboxes:\n${stderr}`).toBe(true)
      // (The bench has child processes only while a command runs, so this snapshot may be empty; the check after
      // the exit also looks for any process under the sandboxes' root.)
      for (const p of descendants(child.pid!)) seen.set(`${p.pid}/${p.start}`, p)

      // 2. Ctrl-C.
      child.kill("SIGINT")
      const code = await exited
      expect(code, stderr).toBe(130)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    }

    // 3. Nothing left: no sandbox under the run label, no process of the run.
    expect(await listed()).toEqual([])
    expect(readdirSync(root).filter((name) => name.startsWith("local-"))).toEqual([])
    expect([...seen.values()].filter(stillRunning).map((p) => p.pid)).toEqual([])
    expect(processesUnder(root)).toEqual([])

    // 4. Partial results were written and say so.
    expect(stderr).toContain("interrupted")
    const resultsPath = join(out, "results.json")
    expect(existsSync(resultsPath)).toBe(true)
    expect(existsSync(join(out, "report.md"))).toBe(true)
    expect(existsSync(join(out, "chart.svg"))).toBe(true)
    const results = JSON.parse(readFileSync(resultsPath, "utf8")) as ResultsFile
    expect(results.status).toBe("interrupted")
    expect(results.runId).toBe(runId)
    expect(results.samples.some((s) => s.concurrency === 20 && s.metric === "create" && s.ok)).toBe(true)
    expect(results.leaks.map((l) => l.found.length)).toEqual([0])
    expect(readFileSync(join(out, "report.md"), "utf8")).toContain("Interrupted run: partial results")
    expect(stdout).toContain("leak check: 0 sandboxes left")
    seen = new Map()
  }, 120_000)
})
