/**
 * Processes on this machine, read from /proc (Linux). The soak attributes a process to a target when its working
 * directory or command line lies under the target's root: sandbox commands run in their workspace in every local
 * tier (bubblewrap and unshare put the path on their command line too), and a process that escaped its parent
 * (`cmd &`, reparented to init) keeps its working directory. Zombies are dead already and are not counted.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs"

export interface ProcessInfo {
  readonly pid: number
  readonly ppid: number
  readonly state: string
  readonly cwd: string | undefined
  readonly cmdline: string
}

const readProcess = (pid: number): ProcessInfo | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // The command name is in parentheses and may contain spaces: the fields after the last ")" are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim()
    let cwd: string | undefined
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`)
    } catch {
      cwd = undefined
    }
    return { pid, ppid: Number(fields[1]), state: fields[0] ?? "?", cwd, cmdline }
  } catch {
    // Gone while we looked.
    return undefined
  }
}

/** Every process visible here, or [] where there is no /proc. */
export const allProcesses = (): ReadonlyArray<ProcessInfo> => {
  let names: Array<string>
  try {
    names = readdirSync("/proc")
  } catch {
    return []
  }
  return names.filter((n) => /^\d+$/.test(n)).flatMap((n) => readProcess(Number(n)) ?? [])
}

export const isAlive = (p: ProcessInfo): boolean => p.state !== "Z" && p.state !== "X"

/** Live processes working in or naming a path under `root`. */
export const processesUnder = (root: string, processes: ReadonlyArray<ProcessInfo> = allProcesses()): ReadonlyArray<ProcessInfo> => {
  const prefix = root.endsWith("/") ? root : `${root}/`
  return processes.filter((p) =>
    p.pid !== process.pid && isAlive(p) &&
    (p.cwd === root || (p.cwd?.startsWith(prefix) ?? false) || p.cmdline.includes(prefix))
  )
}

/** Live descendants of `pid` (children, their children, …). */
export const descendants = (pid: number = process.pid, processes: ReadonlyArray<ProcessInfo> = allProcesses()): ReadonlyArray<ProcessInfo> => {
  const children = new Map<number, Array<ProcessInfo>>()
  for (const p of processes) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p])
  const out: Array<ProcessInfo> = []
  const queue = [pid]
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      if (isAlive(child)) out.push(child)
      queue.push(child.pid)
    }
  }
  return out
}

/** A short description for a report line. */
export const describeProcess = (p: ProcessInfo): string => `pid ${p.pid} (${p.cmdline.slice(0, 80)})`
