/**
 * What one benchmark sample measures. Every figure is taken with the monotonic clock (`performance.now()`) around
 * the Sandkit call, in the benchmarking process.
 */

export const metricIds = ["create", "tti", "tti-snapshot", "exec", "file-1k", "file-1m", "destroy"] as const
/** A metric the user can select with `--metrics`. */
export type MetricId = typeof metricIds[number]

/** Recorded per concurrent burst (c > 1), not per sandbox: call → the last of the c sandboxes interactive. */
export const BURST_METRIC = "burst-ready"
export type RecordedMetric = MetricId | typeof BURST_METRIC

export const metricInfo: Record<RecordedMetric, { readonly title: string; readonly description: string }> = {
  create: { title: "create", description: "create call → sandbox handle returned" },
  tti: { title: "time to interactive", description: "create call → first `echo` finished (includes create)" },
  "tti-snapshot": {
    title: "TTI from snapshot",
    description: "create({ from: snapshot }) → first `echo` finished; the snapshot holds a prepared workspace (local: 100 MiB)"
  },
  exec: { title: "warm exec", description: "round trip of a second `echo` in a running sandbox" },
  "file-1k": { title: "file 1 KiB w+r", description: "write 1 KiB, then read it back (and compare)" },
  "file-1m": { title: "file 1 MiB w+r", description: "write 1 MiB, then read it back (and compare)" },
  destroy: { title: "destroy", description: "destroy call → done" },
  "burst-ready": {
    title: "burst: all ready",
    description: "c concurrent creates: first call → the last sandbox interactive (one sample per burst)"
  }
}

/** Report order. */
export const recordedMetricOrder: ReadonlyArray<RecordedMetric> = [...metricIds, BURST_METRIC]

export const isMetricId = (s: string): s is MetricId => (metricIds as ReadonlyArray<string>).includes(s)
