/**
 * The terminal table. Rendered from the summary rows only, so a table recomputed from `results.json`'s samples is
 * identical to the printed one.
 */
import { describeMachine } from "../environment.ts"
import { metricInfo } from "../metrics.ts"
import type { ResultsFile, SummaryRow } from "../results.ts"
import { ci, failures, ms, pct, score } from "./format.ts"

type TableInput = Pick<ResultsFile, "runId" | "status" | "environment" | "targets" | "summary" | "scores" | "selfCheck" | "leaks">

const pad = (cells: ReadonlyArray<string>, widths: ReadonlyArray<number>, right: ReadonlyArray<boolean>) =>
  cells.map((cell, i) => (right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd()

/** Align rows of cells into columns (header first). */
export const columns = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, right: ReadonlyArray<boolean>): Array<string> => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  return [pad(header, widths, right), pad(widths.map((w) => "─".repeat(w)), widths, right), ...rows.map((r) => pad(r, widths, right))]
}

const statsCells = (row: SummaryRow): Array<string> => {
  const s = row.stats
  return [
    String(s?.n ?? 0),
    pct(row.successRate),
    ms(s?.min),
    ms(s?.p50),
    ms(s?.p95),
    ms(s?.p99),
    ms(s?.max),
    ms(s?.mean),
    ms(s?.sd),
    s === undefined ? "—" : ci(s.medianCI),
    failures(row)
  ]
}

const STATS_HEADER = ["n", "ok", "min", "p50", "p95", "p99", "max", "mean", "sd", "p50 95% CI", "failures"]
const STATS_RIGHT = [true, true, true, true, true, true, true, true, true, true, false]

export const renderTable = (results: TableInput): string => {
  const label = (key: string) => results.targets.find((t) => t.key === key)?.label ?? key
  const lines: Array<string> = []
  lines.push(`Sandkit bench · run ${results.runId} · ${results.environment.date} · ${results.status}`)
  lines.push(describeMachine(results.environment))
  const emulated = results.targets.filter((t) => t.kind === "emulated")
  if (emulated.length > 0) lines.push(`EMULATED (offline emulator on this machine, not cloud numbers): ${emulated.map((t) => t.label).join(", ")}`)
  lines.push("times in ms · measured samples only (warm-up below) · no trimming · CI = 95 % CI of the median, order statistics")

  const measured = results.summary.filter((r) => r.phase === "measured")
  const levels = [...new Set(measured.map((r) => r.concurrency))]
  for (const c of levels) {
    lines.push("")
    lines.push(c === 1 ? "sequential (concurrency 1)" : `concurrent bursts of ${c}`)
    const rows = measured.filter((r) => r.concurrency === c).map((r) => [label(r.target), metricInfo[r.metric].title, ...statsCells(r)])
    lines.push(...columns(["target", "metric", ...STATS_HEADER], rows, [false, false, ...STATS_RIGHT]))
  }

  const warm = results.summary.filter((r) => r.phase === "warmup")
  if (warm.length > 0) {
    lines.push("")
    lines.push("warm-up (not in the figures above)")
    lines.push(...columns(
      ["target", "metric", "n", "ok", "p50", "max", "failures"],
      warm.map((r) => [label(r.target), metricInfo[r.metric].title, String(r.stats?.n ?? 0), pct(r.successRate), ms(r.stats?.p50), ms(r.stats?.max), failures(r)]),
      [false, false, true, true, true, true, false]
    ))
  }

  if (results.scores.length > 0) {
    lines.push("")
    lines.push("leaderboard composite score on time to interactive (0–100; 60 % p50 + 25 % p95 + 15 % p99, × success; untrimmed)")
    lines.push(...columns(
      ["target", "c", "score", "p50", "p95", "p99", "ok"],
      results.scores.map((s) => [label(s.target), String(s.concurrency), score(s.score), ms(s.p50), ms(s.p95), ms(s.p99), pct(s.successRate)]),
      [false, true, true, true, true, true, true]
    ))
  }

  if (results.selfCheck !== undefined) {
    lines.push("")
    const sc = results.selfCheck
    lines.push(`harness self-check (create p50 with injected latency must be injected + own p50, ±${sc.tolerancePct} %): ${sc.pass ? "PASS" : "FAIL"}`)
    for (const row of sc.rows) {
      lines.push(
        `  ${label(row.target)}: own p50 ${ms(row.baseP50)} + ${row.injectedMs} = ${ms(row.expected)} expected, ` +
          `${ms(row.injectedP50)} measured (${row.deviationPct >= 0 ? "+" : ""}${row.deviationPct.toFixed(2)} %) ${row.pass ? "ok" : "OUT OF TOLERANCE"}`
      )
    }
    if (sc.rows.length === 0) lines.push("  no pair to compare (no successful create samples)")
  }

  lines.push("")
  const leaked = results.leaks.filter((l) => l.found.length > 0 || l.error !== undefined)
  if (leaked.length === 0) {
    lines.push(`leak check: 0 sandboxes left under run ${results.runId} (${results.leaks.map((l) => label(l.target)).join(", ") || "no provider"})`)
  } else {
    for (const l of leaked) {
      lines.push(
        l.error !== undefined
          ? `leak check: ${label(l.target)}: could not list (${l.error})`
          : `leak check: ${label(l.target)}: ${l.found.length} LEFT OVER, reaped ${l.reaped.length}${l.failed.length > 0 ? `, ${l.failed.length} could not be destroyed` : ""}`
      )
    }
  }
  return lines.join("\n")
}
