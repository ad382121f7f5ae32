/**
 * `chart.svg`: one panel per metric; in each, one row per target and concurrency with every measured sample as a dot
 * (a strip plot, nothing trimmed) over a box from p25 to p75, a thick tick at the median and whiskers from p5 to p95.
 * The ms axis is logarithmic when a panel spans more than a factor of 4, linear from 0 otherwise. Emulated rows sit on
 * an orange hatched band and say EMULATED; raw baselines are grey, latency-injected twins purple.
 */
import { describeMachine } from "../environment.ts"
import { metricInfo, type RecordedMetric } from "../metrics.ts"
import { mulberry32 } from "../prng.ts"
import type { ResultsFile, TargetInfo } from "../results.ts"
import { quantileSorted, sorted } from "../stats.ts"
import { ms, pct } from "./format.ts"

const WIDTH = 1120
const LABEL_RIGHT = 300
const PLOT_LEFT = 312
const PLOT_RIGHT = 806
const STATS_LEFT = 818
const ROW_LEFT = 12
const ROW = 22
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#F0E442"]
const RAW_COLOR = "#6B6B6B"
const INJECTED_COLOR = "#7B3FA0"
const EMULATED_ACCENT = "#C06A00"

const esc = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll("\"", "&quot;")
const n2 = (x: number) => (Math.round(x * 100) / 100).toString()

interface Row {
  readonly target: TargetInfo
  readonly concurrency: number
  readonly values: ReadonlyArray<number>
  readonly attempts: number
  readonly failedTags: ReadonlyArray<string>
}

interface Axis {
  readonly log: boolean
  readonly x: (v: number) => number
  readonly ticks: ReadonlyArray<number>
}

const niceStep = (rough: number) => {
  const power = 10 ** Math.floor(Math.log10(rough))
  const f = rough / power
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power
}

const tickLabel = (v: number) => (v >= 10_000 ? `${n2(v / 1000)} s` : v >= 1 ? n2(v) : String(Number(v.toPrecision(2))))

export const makeAxis = (values: ReadonlyArray<number>): Axis => {
  const positive = values.filter((v) => v > 0)
  const lo = positive.length === 0 ? 1 : Math.min(...positive)
  const hi = positive.length === 0 ? 10 : Math.max(...positive)
  const span = PLOT_RIGHT - PLOT_LEFT
  if (hi / lo > 4) {
    const a = Math.log10(lo / 1.25)
    const b = Math.log10(hi * 1.25)
    const ticks: Array<number> = []
    for (let e = Math.floor(a); e <= Math.ceil(b); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e
        if (Math.log10(v) >= a && Math.log10(v) <= b) ticks.push(Number(v.toPrecision(3)))
      }
    }
    return { log: true, x: (v) => PLOT_LEFT + ((Math.log10(Math.max(v, 1e-9)) - a) / (b - a)) * span, ticks }
  }
  const step = niceStep(hi / 5)
  const top = Math.ceil((hi * 1.05) / step) * step
  const ticks: Array<number> = []
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(Number(v.toPrecision(6)))
  return { log: false, x: (v) => PLOT_LEFT + (v / top) * span, ticks }
}

const colorOf = (targets: ReadonlyArray<TargetInfo>) => {
  const plain = targets.filter((t) => t.variant === "sandkit").map((t) => t.provider)
  const providers = [...new Set(plain)]
  return (t: TargetInfo) =>
    t.variant === "raw" ? RAW_COLOR : t.variant === "injected" ? INJECTED_COLOR : PALETTE[Math.max(0, providers.indexOf(t.provider)) % PALETTE.length]!
}

export const renderSvg = (results: Pick<ResultsFile, "samples" | "targets" | "environment" | "runId" | "status" | "config">, metrics: ReadonlyArray<RecordedMetric>): string => {
  const color = colorOf(results.targets)
  const measured = results.samples.filter((s) => s.phase === "measured")
  const levels = [...new Set(measured.map((s) => s.concurrency))].sort((a, b) => a - b)
  const parts: Array<string> = []
  let y = 0

  // Header
  y += 30
  const title = `Sandkit bench — ${results.targets.filter((t) => t.variant === "sandkit").map((t) => t.label).join(", ") || "no provider"}` +
    (results.status === "complete" ? "" : `  (${results.status}: partial results)`)
  parts.push(`<text x="20" y="${y}" font-size="19" font-weight="700" fill="#111">${esc(title)}</text>`)
  y += 20
  parts.push(`<text x="20" y="${y}" font-size="12" fill="#555">${esc(`${results.environment.date.slice(0, 16).replace("T", " ")} UTC · ${describeMachine(results.environment)} · run ${results.runId} · seed ${results.environment.seed}`)}</text>`)
  y += 18
  parts.push(`<text x="20" y="${y}" font-size="12" fill="#555">Every dot is one measured sample (warm-up excluded, nothing trimmed). Box: p25–p75 · thick tick: median · whiskers: p5–p95. Lower is better.</text>`)
  const emulated = results.targets.filter((t) => t.kind === "emulated")
  if (emulated.length > 0) {
    y += 18
    parts.push(`<rect x="20" y="${y - 12}" width="16" height="14" fill="url(#emu)" stroke="${EMULATED_ACCENT}" stroke-width="0.8"/>` +
      `<text x="42" y="${y}" font-size="12" font-weight="700" fill="${EMULATED_ACCENT}">EMULATED rows ran against an offline emulator on this machine: not cloud numbers.</text>`)
  }
  y += 14

  for (const metric of metrics) {
    const rows: Array<Row> = []
    for (const c of levels) {
      for (const target of results.targets) {
        const group = measured.filter((s) => s.metric === metric && s.concurrency === c && s.target === target.key)
        if (group.length === 0) continue
        rows.push({
          target,
          concurrency: c,
          values: sorted(group.filter((s) => s.ok).map((s) => s.ms!)),
          attempts: group.length,
          failedTags: [...new Set(group.filter((s) => !s.ok).map((s) => s.error!.tag))]
        })
      }
    }
    if (rows.length === 0) continue
    const axis = makeAxis(rows.flatMap((r) => r.values))
    const info = metricInfo[metric]

    // Panel title
    y += 30
    parts.push(`<text x="20" y="${y}" fill="#111"><tspan font-size="15" font-weight="700">${esc(info.title)}</tspan>` +
      `<tspan font-size="12" fill="#666" dx="10">${esc(info.description)}</tspan></text>`)
    y += 10
    const top = y
    const bottom = top + rows.length * ROW + 6

    // Grid
    for (const t of axis.ticks) {
      const x = axis.x(t)
      parts.push(`<line x1="${n2(x)}" y1="${top}" x2="${n2(x)}" y2="${bottom}" stroke="#E4E4E4" stroke-width="1"/>`)
    }
    parts.push(`<line x1="${PLOT_LEFT}" y1="${bottom}" x2="${PLOT_RIGHT}" y2="${bottom}" stroke="#999" stroke-width="1"/>`)

    rows.forEach((row, i) => {
      const cy = top + 3 + i * ROW + ROW / 2
      const rowTop = cy - ROW / 2
      if (i > 0 && rows[i - 1]!.concurrency !== row.concurrency) {
        parts.push(`<line x1="${ROW_LEFT}" y1="${n2(rowTop)}" x2="${WIDTH - ROW_LEFT}" y2="${n2(rowTop)}" stroke="#BBB" stroke-width="1" stroke-dasharray="3 3"/>`)
      }
      const c = color(row.target)
      const isEmulated = row.target.kind === "emulated"
      if (isEmulated) {
        parts.push(`<rect x="${ROW_LEFT}" y="${n2(rowTop + 1)}" width="${WIDTH - 2 * ROW_LEFT}" height="${ROW - 2}" fill="url(#emu)"/>`)
      } else if (i % 2 === 1) {
        parts.push(`<rect x="${ROW_LEFT}" y="${n2(rowTop + 1)}" width="${WIDTH - 2 * ROW_LEFT}" height="${ROW - 2}" fill="#F6F6F6"/>`)
      }
      const labelRight = levels.length > 1 ? LABEL_RIGHT - 46 : LABEL_RIGHT
      parts.push(`<text x="${labelRight}" y="${n2(cy + 4)}" text-anchor="end" font-size="12.5" fill="${isEmulated ? EMULATED_ACCENT : "#222"}"${isEmulated ? " font-weight=\"700\"" : ""}>` +
        `<tspan fill="${c}">■</tspan> ${esc(row.target.label)}</text>`)
      if (levels.length > 1) {
        parts.push(`<text x="${LABEL_RIGHT}" y="${n2(cy + 4)}" text-anchor="end" font-size="12" fill="#666">c=${row.concurrency}</text>`)
      }

      if (row.values.length === 0) {
        parts.push(`<text x="${PLOT_LEFT + 6}" y="${n2(cy + 4)}" font-size="12" fill="#B00020">all ${row.attempts} failed (${esc(row.failedTags.join(", "))})</text>`)
        return
      }
      const v = row.values
      const q = (p: number) => axis.x(quantileSorted(v, p))
      // whiskers p5–p95
      parts.push(`<line x1="${n2(q(0.05))}" y1="${n2(cy)}" x2="${n2(q(0.95))}" y2="${n2(cy)}" stroke="${c}" stroke-width="1.2"/>`)
      for (const p of [0.05, 0.95]) parts.push(`<line x1="${n2(q(p))}" y1="${n2(cy - 4)}" x2="${n2(q(p))}" y2="${n2(cy + 4)}" stroke="${c}" stroke-width="1.2"/>`)
      // box p25–p75
      parts.push(`<rect x="${n2(q(0.25))}" y="${n2(cy - 7)}" width="${n2(Math.max(1, q(0.75) - q(0.25)))}" height="14" fill="${c}" fill-opacity="0.14" stroke="${c}" stroke-width="1.2"/>`)
      // dots, jittered vertically (deterministically)
      const jitter = mulberry32(i * 7919 + v.length)
      const dots = v.map((value) => `<circle cx="${n2(axis.x(value))}" cy="${n2(cy + (jitter() - 0.5) * 10)}" r="2.1"/>`).join("")
      parts.push(`<g fill="${c}" fill-opacity="${v.length > 200 ? 0.25 : 0.5}">${dots}</g>`)
      // median
      parts.push(`<line x1="${n2(q(0.5))}" y1="${n2(cy - 9)}" x2="${n2(q(0.5))}" y2="${n2(cy + 9)}" stroke="#111" stroke-width="2.6"/>`)
      // stats on the right
      const ok = v.length / row.attempts
      parts.push(`<text x="${STATS_LEFT}" y="${n2(cy + 4)}" font-size="11.5" fill="#333" xml:space="preserve"><tspan font-weight="700">${esc(ms(quantileSorted(v, 0.5)))}</tspan> ms p50 · ` +
        `${esc(ms(quantileSorted(v, 0.95)))} p95 · n=${v.length}` +
        (ok < 1 ? `<tspan fill="#B00020"> · ok ${esc(pct(ok))}</tspan>` : "") + `</text>`)
    })

    // Tick labels
    for (const t of axis.ticks) {
      parts.push(`<text x="${n2(axis.x(t))}" y="${bottom + 15}" text-anchor="middle" font-size="11" fill="#555">${esc(tickLabel(t))}</text>`)
    }
    parts.push(`<text x="${PLOT_RIGHT}" y="${bottom + 29}" text-anchor="end" font-size="11" fill="#777">ms${axis.log ? " (log scale)" : ""}</text>`)
    y = bottom + 32
  }
  y += 16
  parts.push(`<text x="20" y="${y}" font-size="11" fill="#777">${esc(`@sandkit/bench · ${results.config.iterations} sequential rounds, ${results.config.bursts} bursts per concurrency level, ${results.config.warmup} warm-up · target order shuffled per round (seed ${results.environment.seed})`)}</text>`)
  y += 16

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="'DejaVu Sans', 'Helvetica Neue', Helvetica, Arial, sans-serif">`,
    `<defs><pattern id="emu" patternUnits="userSpaceOnUse" width="8" height="8" patternTransform="rotate(45)"><rect width="3" height="8" fill="${EMULATED_ACCENT}" fill-opacity="0.16"/></pattern></defs>`,
    `<rect width="${WIDTH}" height="${y}" fill="#FFFFFF"/>`,
    ...parts,
    "</svg>",
    ""
  ].join("\n")
}
