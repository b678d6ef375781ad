import { DnsResolver } from "@gatehouse-proxy/core/engine";
import { Tokens } from "@gatehouse-proxy/core";
import type { DnsOptions } from "@gatehouse-proxy/core/engine";
import type { HostResolver, Logger } from "@gatehouse-proxy/core";
import { container } from "tsyringe";
import type { DependencyContainer } from "tsyringe";

export interface RootServices {
  readonly logger: Logger;
  readonly clock?: () => number;
  /** Default: a DnsResolver with the default `dns` settings. */
  readonly resolver?: HostResolver;
}

/** The root container: the services every provider instance may inject. */
export function createRootContainer(services: RootServices): DependencyContainer {
  const root = container.createChildContainer();
  root.register(Tokens.Logger, { useValue: services.logger });
  root.register(Tokens.Clock, { useValue: services.clock ?? (() => Date.now()) });
  root.register(Tokens.Resolver, { useValue: services.resolver ?? followingResolver(undefined, {}) });
  return root;
}

/**
 * Resolves as the proxy's sessions do (its current `dns` settings, reloads included) once the
 * proxy exists; before that (while providers initialise), with a resolver of the same settings.
 */
export function followingResolver(
  dns: DnsOptions | undefined,
  proxy: { readonly current?: { readonly resolveHost: HostResolver } },
): HostResolver {
  let early: DnsResolver | undefined;
  return (host, options) =>
    proxy.current === undefined
      ? (early ??= new DnsResolver(dns)).lookup(host, options)
      : proxy.current.resolveHost(host, options);
}
