import { z } from "@gatehouse-proxy/core";

/**
 * What goes beside `use: gatehouse-plugin-example` in gatehouse.yaml. Build schemas with the
 * `z` that @gatehouse-proxy/core exports (one zod copy for host and plugins), as strict objects so
 * a misspelt key is an error, and name keys in snake_case.
 */
export const configSchema = z.strictObject({
  /** The users file, relative to the config file's folder: `name:password-record[:group,group]` per line. */
  file: z.string().min(1),
  /** Groups every user of this file gets, besides the ones on their line. */
  default_groups: z.array(z.string().min(1)).optional(),
});

export type ExampleConfig = z.output<typeof configSchema>;
