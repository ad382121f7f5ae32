/**
 * The one tsup setup every workspace builds with: ESM for ES2022 with source maps. Libraries also emit `.d.ts`
 * (TypeScript 5.9: TypeScript 7 breaks tsup's declaration build); apps are programs and emit none.
 */
import { defineConfig, type Options } from "tsup"

const common: Options = { format: ["esm"], clean: true, sourcemap: true, target: "es2022" }

/** A published package: its entry points, with declarations. */
export const library = (entry: ReadonlyArray<string>) => defineConfig({ ...common, entry: [...entry], dts: true })

/** A program (bench, CLI, example): no declarations; `extra` for e.g. a shebang banner. */
export const program = (entry: ReadonlyArray<string>, extra: Options = {}) =>
  defineConfig({ ...common, entry: [...entry], dts: false, ...extra })
