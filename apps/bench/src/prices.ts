/**
 * List prices per sandbox-hour, for the optional cost column. Dated on purpose: prices change, and a figure without
 * its date is misleading. Update `asOf` with the numbers.
 */
export const prices = {
  asOf: "2026",
  basis: "list price per sandbox-hour, 1 vCPU / 2 GiB, before free tiers, discounts and billing minimums",
  currency: "USD",
  perSandboxHour: {
    e2b: 0.083,
    daytona: 0.083,
    modal: 0.119,
    runloop: 0.158
  } as Readonly<Record<string, number>>
} as const

export interface CostRow {
  readonly target: string
  /** `undefined`: no list price (local runs on your own machine; emulated numbers are not billed). */
  readonly pricePerHour: number | undefined
  readonly sandboxes: number
  readonly sandboxSeconds: number
  /** sandbox-seconds × price; billing minimums (some clouds bill a minute or more per sandbox) are not modelled. */
  readonly estimatedCost: number | undefined
  readonly note: string
}

export const costRow = (
  target: { readonly key: string; readonly provider: string; readonly kind: string; readonly variant: string },
  usage: { readonly sandboxes: number; readonly sandboxMs: number } | undefined
): CostRow => {
  const sandboxes = usage?.sandboxes ?? 0
  const sandboxSeconds = Math.round((usage?.sandboxMs ?? 0)) / 1000
  const listed = prices.perSandboxHour[target.provider]
  if (target.kind === "local") {
    return { target: target.key, pricePerHour: undefined, sandboxes, sandboxSeconds, estimatedCost: undefined, note: "your own machine" }
  }
  if (target.kind === "emulated") {
    return { target: target.key, pricePerHour: listed, sandboxes, sandboxSeconds, estimatedCost: undefined, note: "emulated: nothing billed" }
  }
  return {
    target: target.key,
    pricePerHour: listed,
    sandboxes,
    sandboxSeconds,
    estimatedCost: listed === undefined ? undefined : (sandboxSeconds / 3600) * listed,
    note: listed === undefined ? "no list price on file" : `list price as of ${prices.asOf}`
  }
}
