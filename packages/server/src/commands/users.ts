import { codeIssues, createJsonLogger } from "@gatehouse-proxy/core/engine";
import { GatehouseError, hashPassword } from "@gatehouse-proxy/core";
import type { PluginDefinition, UserStore } from "@gatehouse-proxy/core";
import { configError } from "../config/config-error.js";
import { loadConfigFile } from "../config/load.js";
import type { AuthConfig, StateConfig } from "../config/schema.js";
import { closeRedis } from "@gatehouse-proxy/auth-redis/connection";
import { connectStateClient, publishRevocation } from "../state/state-store.js";
import { StateKeys } from "../state/state-keys.js";
import { hostVersion } from "../plugins/host-version.js";
import { loadPlugin } from "../plugins/load-plugin.js";
import { adminTarget, callAdmin } from "./admin-client.js";
import { display } from "./display.js";
import { readPassword } from "./read-password.js";
import type { UsersCommand } from "./users-args.js";

interface StoreProvider {
  readonly instanceName: string;
  readonly plugin: PluginDefinition;
  readonly openStore: NonNullable<PluginDefinition["userStore"]>;
  readonly options: unknown;
}

/**
 * `gatehouse users ...`: manages the users of a provider whose plugin offers `userStore`
 * (e.g. `use: redis`), found in the config file and loaded by the production plugin loader.
 */
export async function usersCommand(command: UsersCommand, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const { config, configDir } = await loadConfigFile(command.file);
  const target = await findStoreProvider(config.auth, configDir, command.provider);
  const parsed = target.plugin.configSchema.safeParse(target.options);
  if (!parsed.success) throw configError(codeIssues(parsed.error.issues, `auth.providers.${target.instanceName}`));
  // Only this command's own diagnostics (connection errors) go to stderr; stdout carries the answer.
  const logger = createJsonLogger("warn", (line) => process.stderr.write(line));
  const passwordRecord = needsPassword(command) ? await newPasswordRecord() : undefined;
  let store: UserStore;
  try {
    store = await target.openStore(parsed.data, { instanceName: target.instanceName, configDir, logger });
  } catch (error) {
    throw new GatehouseError(
      "GH_USERS_STORE_UNAVAILABLE",
      `users: provider ${target.instanceName}: ${messageOf(error)}`,
    );
  }
  try {
    await run(command, store, passwordRecord, out);
  } catch (error) {
    if (error instanceof GatehouseError) throw error;
    throw new GatehouseError("GH_USERS_OPERATION_FAILED", `users ${command.action}: ${messageOf(error)}`);
  } finally {
    await store.close();
  }
  if (command.action === "disable" || command.action === "del") {
    const name = command.username ?? "";
    if (config.state?.store === "redis") await announceRevocation(config.state, configDir, name, logger, out);
    else if (config.admin !== undefined || command.admin !== undefined) {
      await revokeOnInstance(command, name, out);
    } else {
      out.write(
        "no admin listener and state is not in Redis: open tunnels stay until they end (POST /api/revoke on each instance ends them)\n",
      );
    }
  }
}

/**
 * With `state: {store: redis}`, a disabled or deleted user is revoked fleet-wide: every running
 * instance ends its tunnels and forgets its cached logins.
 */
async function announceRevocation(
  state: StateConfig,
  configDir: string,
  identity: string,
  logger: Parameters<typeof connectStateClient>[2],
  out: NodeJS.WritableStream,
): Promise<void> {
  try {
    const client = await connectStateClient(state, configDir, logger);
    try {
      const instances = await publishRevocation(client, new StateKeys(state.key_prefix), identity);
      out.write(`revocation of ${display(identity)} published to ${String(instances)} instances\n`);
    } finally {
      await closeRedis(client);
    }
  } catch (error) {
    throw new GatehouseError(
      "GH_USERS_OPERATION_FAILED",
      `users ${display(identity)} changed, but the revocation could not be published: ${messageOf(error)}`,
    );
  }
}

/**
 * Without Redis state, the instance this config runs (its admin listener, or `--admin URL`) ends
 * the user's tunnels and forgets its cached logins: POST /api/revoke, with the admin token.
 */
async function revokeOnInstance(command: UsersCommand, identity: string, out: NodeJS.WritableStream): Promise<void> {
  const target = await adminTarget(command.admin, command.file);
  try {
    await callAdmin(target, "/api/revoke", { identity });
  } catch (error) {
    if (!(error instanceof GatehouseError)) throw error;
    throw new GatehouseError(
      error.code,
      `users ${display(identity)} changed, but its tunnels were not ended: ${error.message}`,
    );
  }
  out.write(`tunnels of ${display(identity)} ended and cached logins forgotten on the instance at ${target.url}\n`);
}

async function run(
  command: UsersCommand,
  store: UserStore,
  passwordRecord: string | undefined,
  out: NodeJS.WritableStream,
): Promise<void> {
  const name = command.username ?? "";
  const shown = display(name);
  switch (command.action) {
    case "add":
      await store.add(name, {
        passwordRecord: passwordRecord ?? "",
        groups: command.groups,
        ...(command.identity === undefined ? {} : { identity: command.identity }),
      });
      out.write(`user ${shown} added\n`);
      return;
    case "passwd":
      await store.setPassword(name, passwordRecord ?? "");
      out.write(`password of ${shown} changed\n`);
      return;
    case "disable":
      await store.disable(name);
      out.write(`user ${shown} disabled\n`);
      return;
    case "del":
      if (!(await store.remove(name)))
        throw new GatehouseError("GH_USERS_OPERATION_FAILED", `users del: no user ${shown}`);
      out.write(`user ${shown} deleted\n`);
      return;
    case "list":
      for await (const user of store.list()) {
        out.write(`${display(user.username)}\t${user.groups.join(",")}${user.disabled ? "\tdisabled" : ""}\n`);
      }
      return;
  }
}

function needsPassword(command: UsersCommand): boolean {
  return command.action === "add" || command.action === "passwd";
}

async function newPasswordRecord(): Promise<string> {
  const password = await readPassword();
  if (password === "") throw new GatehouseError("GH_CLI_BAD_PASSWORD", "users: empty password");
  return hashPassword(password);
}

/** The provider named by --provider, else the only one under auth.providers whose plugin manages users. */
async function findStoreProvider(
  auth: AuthConfig | undefined,
  configDir: string,
  wanted: string | undefined,
): Promise<StoreProvider> {
  const entries = Object.entries(auth?.providers ?? {}).filter(([name]) => wanted === undefined || name === wanted);
  if (wanted !== undefined && entries.length === 0) {
    throw new GatehouseError("GH_USERS_NO_STORE", `--provider ${wanted}: no such entry under auth.providers`);
  }
  const found: StoreProvider[] = [];
  for (const [instanceName, entry] of entries) {
    const options: Record<string, unknown> = { ...entry };
    delete options["use"];
    delete options["on_error"];
    const plugin = await loadPlugin(entry.use, configDir, `auth.providers.${instanceName}.use`, hostVersion());
    if (plugin.userStore !== undefined) {
      found.push({ instanceName, plugin, openStore: plugin.userStore.bind(plugin), options });
    } else if (wanted !== undefined) {
      throw new GatehouseError(
        "GH_USERS_NO_STORE",
        `auth.providers.${wanted}: plugin ${plugin.name} has no user store to manage`,
      );
    }
  }
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    throw new GatehouseError(
      "GH_USERS_NO_STORE",
      "auth.providers: no provider keeps users that gatehouse users can manage (e.g. use: redis)",
    );
  }
  throw new GatehouseError(
    "GH_USERS_NO_STORE",
    `auth.providers: several providers manage users (${found.map((entry) => entry.instanceName).join(", ")}); choose one with --provider NAME`,
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
