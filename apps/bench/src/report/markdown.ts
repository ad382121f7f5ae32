/** `report.md`: the run as a Markdown page (tables, method, environment, leak check, cost, the chart). */
import { describeMachine } from "../environment.ts"
import { metricInfo } from "../metrics.ts"
import type { ResultsFile, SummaryRow } from "../results.ts"
import { ci, failures, ms, pct, score } from "./format.ts"

const escape = (s: string) => s.replaceAll("|", "\\|")
const row = (cells: ReadonlyArray<string>) => `| ${cells.map(escape).join(" | ")} |`
const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, right: ReadonlyArray<boolean>) => [
  row(header),
  `|${right.map((r) => (r ? " ---: " : " --- ")).join("|")}|`,
  ...rows.map(row)
].join("\n")

const statsRow = (label: string, r: SummaryRow) => [
  label,
  metricInfo[r.metric].title,
  String(r.stats?.n ?? 0),
  pct(r.successRate),
  ms(r.stats?.min),
  ms(r.stats?.p50),
  ms(r.stats?.p95),
  ms(r.stats?.p99),
  ms(r.stats?.max),
  ms(r.stats?.mean),
  ms(r.stats?.sd),
  r.stats === undefined ? "—" : ci(r.stats.medianCI),
  failures(r) || "—"
]
const STATS_HEADER = ["target", "metric", "n", "ok", "min", "p50", "p95", "p99", "max", "mean", "sd", "p50 95 % CI", "failures"]
const STATS_RIGHT = [false, false, true, true, true, true, true, true, true, true, true, true, false]

export const renderMarkdown = (results: ResultsFile, options: { readonly chartFile: string }): string => {
  const label = (key: string) => results.targets.find((t) => t.key === key)?.label ?? key
  const env = results.environment
  const out: Array<string> = []
  out.push(`# Sandkit bench — ${env.date.slice(0, 10)}`)
  out.push("")
  if (results.status !== "complete") {
    out.push(`> **${results.status === "interrupted" ? "Interrupted" : "Failed"} run: partial results.** The figures cover what was measured before it stopped.`)
    out.push("")
  }
  const emulated = results.targets.filter((t) => t.kind === "emulated")
  if (emulated.length > 0) {
    out.push(`> **EMULATED:** ${emulated.map((t) => t.label).join(", ")} ran against an offline emulator on this machine. ` +
      "Those numbers measure the adapter and the emulator, not the cloud.")
    out.push("")
  }
  out.push(`- **Machine:** ${describeMachine(env)}`)
  out.push(`- **Date:** ${env.date} · **run id** \`${results.runId}\` · **seed** ${env.seed} · **duration** ${(results.durationMs / 1000).toFixed(1)} s`)
  out.push(`- **Providers:** ${results.targets.map((t) => `${t.label} (${t.kind}${t.details.isolation === undefined ? "" : `, isolation ${t.details.isolation}`})`).join(", ")}`)
  const c = results.config
  out.push(`- **Settings:** ${c.iterations} sequential rounds, ${c.warmup} warm-up rounds, concurrency ${c.concurrency.join(", ")} ` +
    `(${c.bursts} bursts per level above 1), metrics ${c.metrics.join(", ")}${c.baseline === "raw" ? ", raw baseline" : ""}${c.selfCheck ? ", self-check" : ""}`)
  if (env.git !== undefined) out.push(`- **Commit:** \`${env.git.commit.slice(0, 12)}\`${env.git.dirty ? " (with uncommitted changes)" : ""}`)
  if (results.unavailable.length > 0) {
    out.push(`- **Not run:** ${results.unavailable.map((u) => `${u.name} (${u.reason})`).join("; ")}`)
  }
  for (const note of results.notes) out.push(`- ${note}`)
  out.push("")
  out.push(`![distribution per provider and metric](${options.chartFile})`)
  out.push("")

  const measured = results.summary.filter((r) => r.phase === "measured")
  for (const level of [...new Set(measured.map((r) => r.concurrency))]) {
    out.push(level === 1 ? "## Sequential (concurrency 1)" : `## Concurrent bursts of ${level}`)
    out.push("")
    out.push("Times in milliseconds; every sample counts (no trimming).")
    out.push("")
    out.push(table(STATS_HEADER, measured.filter((r) => r.concurrency === level).map((r) => statsRow(label(r.target), r)), STATS_RIGHT))
    out.push("")
  }

  if (results.scores.length > 0) {
    out.push("## Leaderboard composite score")
    out.push("")
    out.push("The public startup leaderboard's composite, computed on our time-to-interactive samples: 60 % median + 25 % p95 + " +
      "15 % p99, each scored 100 × (1 − t / 10 s) and clamped at 0, the blend multiplied by the success rate. The leaderboard " +
      "trims its slowest 5 % first; we do not, so our score is the stricter one.")
    out.push("")
    out.push(table(
      ["target", "concurrency", "score", "p50 ms", "p95 ms", "p99 ms", "ok"],
      results.scores.map((s) => [label(s.target), String(s.concurrency), score(s.score), ms(s.p50), ms(s.p95), ms(s.p99), pct(s.successRate)]),
      [false, true, true, true, true, true, true]
    ))
    out.push("")
  }

  if (results.selfCheck !== undefined) {
    const sc = results.selfCheck
    out.push(`## Harness self-check: ${sc.pass ? "PASS" : "FAIL"}`)
    out.push("")
    out.push(`Each provider ran next to a twin whose \`create\` has a fixed latency injected; the twin's create p50 must equal ` +
      `the provider's own p50 plus the injected latency, within ±${sc.tolerancePct} %.`)
    out.push("")
    out.push(table(
      ["provider", "own p50", "injected", "expected", "measured", "deviation", "verdict"],
      sc.rows.map((r) => [label(r.target), ms(r.baseP50), `${r.injectedMs}`, ms(r.expected), ms(r.injectedP50), `${r.deviationPct.toFixed(2)} %`, r.pass ? "pass" : "FAIL"]),
      [false, true, true, true, true, true, false]
    ))
    out.push("")
  }

  const warm = results.summary.filter((r) => r.phase === "warmup")
  if (warm.length > 0) {
    out.push("## Warm-up (reported apart, not in the figures above)")
    out.push("")
    out.push(table(STATS_HEADER, warm.map((r) => statsRow(label(r.target), r)), STATS_RIGHT))
    out.push("")
  }

  out.push("## Leak check")
  out.push("")
  const leaked = results.leaks.filter((l) => l.found.length > 0 || l.error !== undefined)
  if (leaked.length === 0) {
    out.push(`After the run, listing every provider by the run label \`sandkit.run=${results.runId}\` returned nothing: 0 sandboxes left.`)
  } else {
    for (const l of leaked) {
      out.push(l.error !== undefined
        ? `- ${label(l.target)}: the check could not list (${l.error})`
        : `- ${label(l.target)}: **${l.found.length} left over** (${l.found.join(", ")}); reaped ${l.reaped.length}` +
          (l.failed.length > 0 ? `; could not destroy ${l.failed.map((f) => f.id).join(", ")}` : ""))
    }
  }
  out.push("")

  out.push(`## Cost (optional; list prices as of ${results.cost.asOf})`)
  out.push("")
  out.push(`${results.cost.basis}. The estimate is this run's sandbox time (create call → destroyed) at that price.`)
  out.push("")
  out.push(table(
    ["target", "$/sandbox-hour", "sandboxes", "sandbox-seconds", "estimated cost", "note"],
    results.cost.rows.map((r) => [
      label(r.target),
      r.pricePerHour === undefined ? "—" : `$${r.pricePerHour.toFixed(3)}`,
      String(r.sandboxes),
      r.sandboxSeconds.toFixed(1),
      r.estimatedCost === undefined ? "—" : `$${r.estimatedCost.toFixed(4)}`,
      r.note
    ]),
    [false, true, true, true, true, false]
  ))
  out.push("")

  out.push("## Method")
  out.push("")
  for (const [name, text] of Object.entries(results.method)) out.push(`- **${name}:** ${text}`)
  out.push("")
  out.push("Metrics:")
  out.push("")
  for (const [id, info] of Object.entries(metricInfo)) out.push(`- \`${id}\` (${info.title}): ${info.description}`)
  out.push("")
  out.push("Every raw sample, the settings and the environment are in `results.json` next to this file.")
  out.push("")
  return out.join("\n")
}
