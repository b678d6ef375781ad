import { parseDuration, z } from "@gatehouse-proxy/core";

const duration = z.union([z.number(), z.string()]).transform((value, context) => {
  try {
    return parseDuration(value);
  } catch (error) {
    context.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

export const luaConfigSchema = z.strictObject({
  /** The policy script, relative to the config file's folder. */
  script: z.string().min(1),
  /** A global function to call instead of the handler registered with kumo.on. */
  function: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a Lua identifier")
    .optional(),
  /** Worker threads, each with its own Lua state. */
  workers: z.number().int().min(1).max(16).default(2),
  /** Wall-clock limit of one call; past it the worker is terminated and replaced. */
  call_timeout: duration.default(1000),
  /** VM instructions one call (or loading the script) may run. */
  instruction_limit: z.number().int().min(10_000).max(1_000_000_000).default(1_000_000),
  /** The largest string a script may build. */
  max_string_bytes: z
    .number()
    .int()
    .min(1024)
    .max(256 * 2 ** 20)
    .default(4 * 2 ** 20),
  /** Heap and buffers one worker may use while running Lua, in MiB. */
  memory_limit_mb: z.number().int().min(32).max(4096).default(256),
  /** False: no answer is cached or shared between identical attempts (the script checks one-time codes). */
  reusable: z.boolean().default(true),
});

export type LuaConfig = z.output<typeof luaConfigSchema>;
