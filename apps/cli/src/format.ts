/**
 * Pure helpers: durations in and out, labels, tables.
 */
import type { SandboxInfo } from "@sandkit/core"

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000
}

const LONG_UNITS: Readonly<Record<string, string>> = {
  millis: "ms",
  millisecond: "ms",
  milliseconds: "ms",
  second: "s",
  seconds: "s",
  minute: "m",
  minutes: "m",
  hour: "h",
  hours: "h",
  day: "d",
  days: "d",
  week: "w",
  weeks: "w"
}

/**
 * A positive duration in milliseconds: `30s`, `2h`, `1h30m`, `500ms`, `1.5h`, `2 hours`, or a bare number of seconds.
 * Throws with a readable message otherwise.
 */
export const parseDuration = (input: string): number => {
  const text = input.trim().toLowerCase()
  const fail = (): never => {
    throw new Error(`"${input}" is not a duration (examples: 30s, 5m, 2h, 1h30m, 500ms, 2d)`)
  }
  if (text === "") return fail()
  let ms: number
  if (/^\d+(\.\d+)?$/.test(text)) {
    ms = Number(text) * 1000
  } else {
    const long = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/.exec(text)
    if (long !== null && LONG_UNITS[long[2]!] !== undefined) {
      ms = Number(long[1]) * UNIT_MS[LONG_UNITS[long[2]!]!]!
    } else {
      if (!/^(\d+(\.\d+)?(ms|sec|min|s|m|h|d|w))+$/.test(text)) return fail()
      ms = 0
      for (const part of text.matchAll(/(\d+(?:\.\d+)?)(ms|sec|min|s|m|h|d|w)/g)) ms += Number(part[1]) * UNIT_MS[part[2]!]!
    }
  }
  if (!Number.isFinite(ms) || ms <= 0) return fail()
  return Math.round(ms)
}

/** `42s`, `5m`, `3h12m`, `4d2h`: the two largest units. */
export const formatAge = (ms: number): string => {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`
  const d = Math.floor(h / 24)
  return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`
}

/** `k=v,k2=v2`, sorted by key, `-` when there are none. */
export const formatLabels = (labels: Readonly<Record<string, string>>): string => {
  const keys = Object.keys(labels).sort()
  return keys.length === 0 ? "-" : keys.map((k) => `${k}=${labels[k]}`).join(",")
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)))
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd())
    .join("\n") + "\n"
}

export const plural = (n: number, word: string): string =>
  `${n} ${word}${n === 1 ? "" : /(s|x|ch|sh)$/.test(word) ? "es" : "s"}`

/** The JSON shape `ls --json` prints for one sandbox (stable: scripts depend on it). */
export interface SandboxJson {
  readonly provider: string
  readonly emulated: boolean
  readonly id: string
  readonly name: string | null
  readonly state: string
  readonly createdAt: string
  readonly ageSeconds: number
  readonly expiresAt: string | null
  readonly image: string | null
  readonly labels: Readonly<Record<string, string>>
  /** `true`/`false` where the provider can tell (local), `null` where it cannot. */
  readonly orphaned: boolean | null
  /** Created by Sandkit (carries `sandkit.owner`), so `reap` may destroy it. */
  readonly sandkit: boolean
}

export const sandboxJson = (info: SandboxInfo, now: number, emulated: boolean): SandboxJson => ({
  provider: info.provider,
  emulated,
  id: info.id,
  name: info.name ?? null,
  state: info.state,
  createdAt: info.createdAt.toISOString(),
  ageSeconds: Math.max(0, Math.floor((now - info.createdAt.getTime()) / 1000)),
  expiresAt: info.expiresAt === undefined ? null : info.expiresAt.toISOString(),
  image: info.image ?? null,
  labels: info.labels,
  orphaned: info.orphaned ?? null,
  sandkit: info.labels["sandkit.owner"] !== undefined
})
