import type { LdapConnection } from "./connection.js";

/**
 * Idle connections for user binds, reused one login at a time so that a login does not pay a
 * TCP and TLS handshake. Never used for service searches. A connection goes back only when it
 * is still open; after a failed bind it is anonymous (RFC 4511 §4.2.1), after a successful one
 * it is re-bound by the next login before any use.
 */
export class BindPool {
  private readonly idle: LdapConnection[] = [];
  private closed = false;

  constructor(private readonly maxIdle: number) {}

  /** An open idle connection, or undefined. */
  take(): LdapConnection | undefined {
    for (;;) {
      const connection = this.idle.pop();
      if (connection === undefined || connection.connected) return connection;
      connection.destroy();
    }
  }

  /** Returns a connection after use; closes it when it is broken or the pool is full or closed. */
  give(connection: LdapConnection): void {
    if (!this.closed && connection.connected && this.idle.length < this.maxIdle) {
      this.idle.push(connection);
    } else {
      void connection.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((connection) => connection.close()));
  }
}
