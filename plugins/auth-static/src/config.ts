import { z } from "@gatehouse-proxy/core";
import { passwordRecordField } from "./password-field.js";

export const userEntrySchema = z.strictObject({
  /** A record made by `gatehouse hash-password`. */
  password: passwordRecordField,
  groups: z.array(z.string().min(1)).optional(),
  /** The identity reported on success; defaults to the username. */
  identity: z.string().min(1).optional(),
});

/** RFC 1929 carries 1..255 bytes of username: other names could never log in. */
export const usersSchema = z.record(z.string(), userEntrySchema).superRefine((users, context) => {
  for (const name of Object.keys(users)) {
    const bytes = Buffer.byteLength(name);
    if (bytes === 0 || bytes > 255) {
      context.addIssue({ code: "custom", path: [name], message: "usernames are 1..255 bytes (RFC 1929)" });
    }
  }
});

/** What a users_file holds (YAML or JSON). */
export const usersFileSchema = z.strictObject({ users: usersSchema });

export const staticConfigSchema = z
  .strictObject({
    users: usersSchema.optional(),
    /** YAML or JSON with the same `users` shape; relative to the config file's folder. */
    users_file: z.string().min(1).optional(),
  })
  .superRefine((config, context) => {
    if (config.users !== undefined && config.users_file !== undefined) {
      context.addIssue({ code: "custom", message: "set either users or users_file, not both" });
    } else if (config.users === undefined && config.users_file === undefined) {
      context.addIssue({ code: "custom", message: "set users or users_file" });
    }
  });

export type UserEntry = z.output<typeof userEntrySchema>;
export type StaticConfig = z.output<typeof staticConfigSchema>;
