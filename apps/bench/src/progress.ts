/**
 * Live progress. On a terminal: one line, redrawn in place — a bar, sandboxes done / total, where the run is, and an
 * ETA. Not on a terminal, or with `CI` set: plain lines at each phase change and each burst, nothing redrawn.
 * Progress goes to stderr; the results table goes to stdout.
 */

export interface ProgressStep {
  readonly phase: "warmup" | "measured"
  readonly concurrency: number
  readonly round: number
  readonly rounds: number
  readonly target: string
}

export interface Progress {
  readonly start: (totalSandboxes: number) => void
  readonly step: (step: ProgressStep) => void
  readonly advance: (sandboxes: number) => void
  /** A message line that must not be mangled by the bar. */
  readonly note: (line: string) => void
  /** `stopped`: the run was interrupted before the schedule ended. */
  readonly finish: (stopped?: boolean) => void
}

export const silentProgress: Progress = {
  start: () => undefined,
  step: () => undefined,
  advance: () => undefined,
  note: () => undefined,
  finish: () => undefined
}

export interface ProgressOutput {
  readonly write: (text: string) => void
  readonly isTTY: boolean
  readonly columns?: number | undefined
}

export const describeStep = (step: ProgressStep): string => {
  const where = step.phase === "warmup"
    ? "warm-up"
    : step.concurrency === 1
    ? "sequential"
    : `burst c=${step.concurrency}`
  return `${where} · round ${step.round + 1}/${step.rounds} · ${step.target}`
}

export const formatDuration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return "…"
  const s = Math.round(ms / 1000)
  const m = Math.floor(s / 60)
  return m > 0 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`
}

/** `line` mode (no terminal, or CI) prints plain lines; `bar` mode redraws one line. */
export const makeProgress = (out: ProgressOutput, options: { readonly ci: boolean; readonly now?: () => number }): Progress => {
  const now = options.now ?? (() => performance.now())
  const bar = out.isTTY && !options.ci
  let total = 0
  let done = 0
  let startedAt = now()
  let current = ""
  let lastKey = ""
  let lastDraw = 0
  let drawn = false
  let running = false

  const percent = () => (total === 0 ? 0 : Math.floor((100 * done) / total))
  const eta = () => {
    if (done === 0) return "ETA …"
    const elapsed = now() - startedAt
    return `ETA ${formatDuration((elapsed / done) * (total - done))}`
  }
  const clear = () => {
    if (drawn) out.write("\r\x1b[K")
    drawn = false
  }
  const draw = (force: boolean) => {
    const t = now()
    if (!force && t - lastDraw < 100) return
    lastDraw = t
    const width = 24
    const filled = total === 0 ? 0 : Math.round((width * done) / total)
    const head = `[${"█".repeat(filled)}${"░".repeat(width - filled)}] ${String(percent()).padStart(3)}% ${done}/${total} sandboxes · `
    const tail = ` · ${eta()}`
    const room = Math.max(20, (out.columns || 100) - head.length - tail.length - 1)
    const middle = current.length > room ? current.slice(0, room - 1) + "…" : current
    out.write(`\r\x1b[K${head}${middle}${tail}`)
    drawn = true
  }

  return {
    start: (n) => {
      total = n
      done = 0
      startedAt = now()
      running = true
      if (!bar) out.write(`[bench] ${n} sandboxes to create\n`)
    },
    step: (step) => {
      current = describeStep(step)
      if (bar) return draw(true)
      // Lines: every burst (c > 1), and the first of every quarter of the sequential / warm-up rounds.
      const roundKey = `${step.phase}/${step.concurrency}/${step.round}`
      const firstOfRound = roundKey !== lastKey
      lastKey = roundKey
      const quarter = Math.max(1, Math.ceil(step.rounds / 4))
      if (step.concurrency > 1 || (firstOfRound && step.round % quarter === 0)) out.write(`[bench] ${current} (${percent()}%)\n`)
    },
    advance: (n) => {
      done += n
      if (bar) draw(false)
    },
    note: (line) => {
      if (bar) {
        clear()
        out.write(line + "\n")
        if (running) draw(true)
      } else {
        out.write(line + "\n")
      }
    },
    finish: (stopped = false) => {
      const text = `${stopped ? "stopped after" : "done:"} ${done}/${total} sandboxes in ${formatDuration(now() - startedAt)}`
      running = false
      if (bar) clear()
      out.write(bar ? `${text}\n` : `[bench] ${text}\n`)
    }
  }
}
