export * as DaytonaProvider from "./DaytonaProvider.ts"
