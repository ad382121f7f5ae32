export * as LocalProvider from "./LocalProvider.ts"
