import type { Config } from './config/schema.ts';
import { loadRegistration } from './config/registration.ts';
import type { Logger } from './observability/logger.ts';
import { RecorderAppservice } from './matrix/appservice.ts';
import { CommandRegistry } from './matrix/commands/registry.ts';
import { helpCommand } from './matrix/commands/help.ts';

export type Role = 'bridge' | 'worker' | 'all';

interface Closable {
  name: string;
  close(): Promise<void>;
}

export function buildCommands(config: Config): CommandRegistry {
  const registry = new CommandRegistry(config.permissions.minPowerLevel);
  return registry.add(helpCommand(() => registry.list(), config.permissions.minPowerLevel));
}

/** Starts the requested role(s) and runs until SIGTERM/SIGINT, then shuts down in order. */
export async function runProcess(role: Role, config: Config, log: Logger): Promise<void> {
  const registration = loadRegistration(config.appservice.registrationFile);
  const running: Closable[] = [];
  if (role === 'bridge' || role === 'all') {
    const appservice = new RecorderAppservice({ config, registration, log, commands: buildCommands(config) });
    await appservice.start();
    running.push({ name: 'appservice', close: () => appservice.stop() });
  }
  if (role === 'worker' || role === 'all') {
    log.info('worker role started (no call sessions yet)');
  }
  log.info({ role }, 'started');
  await waitForShutdownSignal(log);
  for (const item of running.reverse()) {
    await item.close().catch((err: unknown) => log.error({ err, item: item.name }, 'error while closing'));
  }
  log.info('stopped');
}

function waitForShutdownSignal(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down; a second signal forces exit');
      process.once(signal, () => process.exit(130));
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
