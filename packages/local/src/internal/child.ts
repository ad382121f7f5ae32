/**
 * A child process in its own process group, so a kill reaches everything it started. Only `node:` APIs that Node,
 * Bun and Deno all implement.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync } from "node:fs"
import { constants } from "node:os"

export type Signal = "SIGTERM" | "SIGKILL" | "SIGINT" | "SIGHUP"

export interface ChildOptions {
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
  readonly stdin: "pipe" | "ignore"
  readonly onStdout: (chunk: Uint8Array) => void
  readonly onStderr: (chunk: Uint8Array) => void
}

export interface RunningChild {
  readonly pid: number
  /** Exit code once the process has exited and its output is drained; 128+N for signal N; 127 when it could not start. */
  readonly exited: Promise<number>
  readonly hasExited: () => boolean
  readonly kill: (signal: Signal) => void
  readonly write: (data: Uint8Array) => Promise<void>
  readonly closeStdin: () => void
}

/** Output still in the pipes when the process exits is read for at most this long (a background job may hold them). */
const DRAIN_GRACE_MS = 200

/** Signal a whole process group; fall back to the process alone where negative pids are not supported. */
export const killGroup = (pid: number, signal: Signal): void => {
  try {
    process.kill(-pid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code === "ESRCH") return
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

/** SIGKILL every process of `uid` (a sandbox's own uid): `kill -KILL -1` run as that uid. */
export const killAllOf = (uid: number): Promise<void> =>
  new Promise((resolve) => {
    const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p))
    if (setpriv === undefined) return resolve()
    const child = spawn(setpriv, [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--", "/bin/kill", "-KILL", "-1"], {
      stdio: "ignore"
    })
    child.once("error", () => resolve())
    child.once("exit", () => resolve())
  })

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException)?.code === "EPERM"
  }
}

export const startChild = (options: ChildOptions): RunningChild => {
  const [file, ...args] = options.argv
  const child: ChildProcess = spawn(file!, args, {
    cwd: options.cwd,
    env: { ...options.env },
    stdio: [options.stdin, "pipe", "pipe"],
    detached: true // own process group: killGroup reaches grandchildren too
  })
  let exited = false
  let spawnError: Error | undefined
  child.stdout!.on("data", (chunk: Uint8Array) => options.onStdout(new Uint8Array(chunk)))
  child.stderr!.on("data", (chunk: Uint8Array) => options.onStderr(new Uint8Array(chunk)))
  // Writing to a process that already exited raises EPIPE on the stream; the exit code tells the story instead.
  child.stdin?.on("error", () => {})

  const ended = (stream: NodeJS.ReadableStream) =>
    new Promise<void>((resolve) => {
      stream.once("end", resolve)
      stream.once("close", resolve)
      stream.once("error", () => resolve())
    })
  const drained = Promise.all([ended(child.stdout!), ended(child.stderr!)])

  const exitPromise = new Promise<number>((resolve) => {
    child.once("error", (error) => {
      spawnError = error
      exited = true
      resolve(127)
    })
    child.once("exit", (code, signal) => {
      exited = true
      const status = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)
      const grace = new Promise<void>((r) => setTimeout(r, DRAIN_GRACE_MS).unref?.())
      void Promise.race([drained, grace]).then(() => {
        child.stdout!.destroy()
        child.stderr!.destroy()
        resolve(status)
      })
    })
  })

  return {
    pid: child.pid ?? -1,
    exited: exitPromise.then((code) => {
      if (spawnError !== undefined) options.onStderr(new TextEncoder().encode(`${spawnError.message}\n`))
      return code
    }),
    hasExited: () => exited,
    kill: (signal) => {
      if (child.pid !== undefined && !exited) killGroup(child.pid, signal)
    },
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        const stdin = child.stdin
        if (stdin === null || stdin === undefined || stdin.destroyed || stdin.writableEnded) {
          reject(new Error("standard input is closed"))
          return
        }
        stdin.write(data, (error) => (error ? reject(error) : resolve()))
      }),
    closeStdin: () => {
      child.stdin?.end()
    }
  }
}
