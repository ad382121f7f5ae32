/**
 * Helpers for the process-death test: run `fixtures/deathChild.ts` as a real child process (Node with the
 * `@sandkit/source` condition), wait for its marker lines, signal it, and look for processes left on the machine.
 * Nothing here waits for a duration as a proxy for an event: waits are for conditions, bounded in tries.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"

const childPath = new URL("./fixtures/deathChild.ts", import.meta.url).pathname

/** Variables that would change what the child does; it gets its provider from DEATH_* only. */
const scrubbed = /^(E2B_|DAYTONA_|MODAL_|RUNLOOP_|SANDKIT_|DEATH_)/

export interface DeathChild {
  readonly process: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves with how the child ended. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

export const spawnDeathChild = (env: Readonly<Record<string, string>>): DeathChild => {
  const base: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !scrubbed.test(key)) base[key] = value
  }
  // process.execPath is the Node binary itself (a wrapper script in node_modules/.bin would take the signal instead).
  const child = spawn(process.execPath, ["--conditions=@sandkit/source", childPath], {
    env: { ...base, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  )
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited }
}

/** Kill the child if it is still running (a failed test must not leave it behind). */
export const killIfRunning = (child: DeathChild) =>
  Effect.sync(() => {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL")
  })

const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/**
 * Poll `condition` until it holds, at most `tries` times `every` ms apart; fail with `what` otherwise. The bound is a
 * safety net against hanging, not a timing assertion.
 */
export const waitFor = (what: string, condition: () => boolean | Promise<boolean>, tries = 1200, every = 25) =>
  Effect.gen(function*() {
    for (let i = 0; i < tries; i++) {
      if (yield* Effect.promise(async () => await condition())) return
      yield* pause(every)
    }
    return yield* Effect.die(new Error(`gave up waiting for ${what}`))
  })

/** Wait for a marker line on the child's stdout; fails at once if the child exits first. */
export const waitForMarker = (child: DeathChild, marker: string) =>
  waitFor(`"${marker}" from the child`, () => {
    if (child.stdout().split("\n").includes(marker)) return true
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw new Error(`the child exited before "${marker}":\n${child.stdout()}\n${child.stderr()}`)
    }
    return false
  })

/** Live processes (zombies excluded) whose command line contains `text`, as `pid: cmdline`. */
export const processesMentioning = (text: string): Array<string> =>
  readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).flatMap((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return []
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
      return cmdline.includes(text) ? [`${pid}: ${cmdline.slice(0, 200)}`] : []
    } catch {
      return [] // gone meanwhile, or not ours to read
    }
  })
