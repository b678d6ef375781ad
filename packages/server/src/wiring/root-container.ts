import { lookup } from "node:dns/promises";
import { Tokens } from "@gatehouse/core";
import type { HostResolver, Logger } from "@gatehouse/core";
import { container } from "tsyringe";
import type { DependencyContainer } from "tsyringe";

export interface RootServices {
  readonly logger: Logger;
  readonly clock?: () => number;
  readonly resolver?: HostResolver;
}

/** The root container: the services every provider instance may inject. */
export function createRootContainer(services: RootServices): DependencyContainer {
  const root = container.createChildContainer();
  root.register(Tokens.Logger, { useValue: services.logger });
  root.register(Tokens.Clock, { useValue: services.clock ?? (() => Date.now()) });
  const resolver: HostResolver = services.resolver ?? ((host) => lookup(host));
  root.register(Tokens.Resolver, { useValue: resolver });
  return root;
}
