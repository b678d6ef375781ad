import { resolve } from "node:path";
import { Tokens, normalizeAuthResult, redactSecret } from "@gatehouse-proxy/core";
import type { AuthProvider, AuthRequest, AuthResult, Logger, PluginContext } from "@gatehouse-proxy/core";
import { inject, injectable } from "tsyringe";
import { chunkNameOf, readScript, syntaxError } from "./compile-check.js";
import type { LuaConfig } from "./config.js";
import type { LogLevel } from "./messages.js";
import { LuaCallError, WorkerPool } from "./worker-pool.js";

/** Calls waiting for a worker beyond this are refused (the pipeline caps concurrency too). */
const MAX_QUEUE = 1024;

/** Thrown by init() when the script cannot be read, compiled or loaded. */
export class LuaScriptError extends Error {
  override readonly name = "LuaScriptError";
}

/**
 * A KumoMTA-style policy script (`kumo.on('proxy_server_auth_rfc1929', fn)`, or a global
 * function named by `function:`) run in a pool of sandboxed fengari workers. init() reads and
 * compiles the script and loads it in every worker; the server re-creates the provider on
 * SIGHUP, so a reload re-reads the script and a broken one keeps the old provider running.
 */
@injectable()
export class LuaProvider implements AuthProvider {
  readonly name: string;
  /** Scripts see conn_meta, so the pipeline caches and coalesces per client address too. */
  readonly usesConnMeta = true;
  /** `reusable: false` in the config: every attempt reaches the script (no cache, no coalescing). */
  readonly reusable: boolean;
  private readonly scriptFile: string;
  private pool: WorkerPool | undefined;

  constructor(
    @inject(Tokens.Config) private readonly config: LuaConfig,
    @inject(Tokens.Context) context: PluginContext,
    @inject(Tokens.Logger) private readonly logger: Logger,
  ) {
    this.name = context.instanceName;
    this.reusable = config.reusable;
    this.scriptFile = resolve(context.configDir, config.script);
  }

  async init(): Promise<void> {
    const read = await readScript(this.scriptFile);
    if ("problem" in read) throw new LuaScriptError(read.problem);
    const chunkName = chunkNameOf(this.scriptFile);
    const syntax = syntaxError(read.source, chunkName);
    if (syntax !== undefined) throw new LuaScriptError(`${this.scriptFile}: ${syntax}`);
    try {
      this.pool = await WorkerPool.start({
        setup: {
          source: read.source,
          chunkName,
          functionName: this.config.function,
          limits: {
            instructions: this.config.instruction_limit,
            maxStringBytes: this.config.max_string_bytes,
            memoryBytes: this.config.memory_limit_mb * 2 ** 20,
          },
        },
        size: this.config.workers,
        callTimeoutMs: this.config.call_timeout,
        maxQueue: MAX_QUEUE,
        log: (level, message, fields) => this.log(level, message, fields),
      });
    } catch (error) {
      throw new LuaScriptError(`${this.scriptFile}: ${(error as Error).message}`, { cause: error });
    }
    this.logger.info(
      { event: "lua_script_loaded", script: this.scriptFile, workers: this.config.workers },
      "Lua policy loaded",
    );
  }

  async authenticate(request: AuthRequest, signal: AbortSignal): Promise<AuthResult> {
    const pool = this.pool;
    if (pool === undefined) throw new LuaCallError("the Lua provider was not initialised");
    let converted;
    try {
      converted = await pool.call(
        {
          username: request.username,
          password: request.password,
          peerAddress: request.connMeta.peer_address,
          localAddress: request.connMeta.local_address,
        },
        signal,
      );
    } catch (error) {
      if (signal.aborted) throw error;
      const message = redactSecret((error as Error).message, request.password);
      this.logger.error(
        { event: "lua_error", script: this.scriptFile, error: message },
        `Lua policy failed: ${message}`,
      );
      throw new LuaCallError(message);
    }
    if (converted.kind === "invalid") return this.deny(converted.detail);
    if (typeof converted.value === "boolean") return converted.value;
    const outcome = normalizeAuthResult(converted.value, request.username);
    if (outcome.ok) return outcome.info;
    return outcome.invalid ? this.deny(outcome.detail) : false;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  /** A return value outside the contract (nil, number, string, bad table): denied, and said so. */
  private deny(detail: string): false {
    this.logger.warn(
      { event: "lua_invalid_result", script: this.scriptFile, detail },
      `Lua policy returned a value outside the contract, denied: ${detail}`,
    );
    return false;
  }

  private log(level: LogLevel, message: string, fields: object = {}): void {
    this.logger[level]({ ...fields, script: this.scriptFile }, message);
  }
}
