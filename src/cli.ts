#!/usr/bin/env node
import { existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from './config/load.ts';
import { buildRegistration, loadRegistration, registrationYaml } from './config/registration.ts';
import { secretConfigPaths } from './config/schema-keys.ts';
import { generateCrossSigning } from './crypto/generate-cross-signing.ts';
import { ConfigError, RecorderError } from './errors.ts';
import { createLogger } from './observability/logger.ts';
import { callUserLocalpart } from './call/call-user.ts';
import { runProcess, type Role } from './app.ts';

const USAGE = `Usage: matrixrtc-recorder <command> [--config FILE]

Commands:
  bridge                  run the appservice (commands, permissions, job producer)
  worker                  run a worker that joins calls (BullMQ consumer)
  all                     run both in one process (small deployments, the demo)
  generate-registration   write an appservice registration with fresh tokens
                          [--output registration.yaml] [--force]
  generate-cross-signing  create the cross-signing keys of the bot and its call user once, write
                          them to encryption.crossSigningKeysFile (or --output) and publish them;
                          run again to re-publish that file, --force for new keys replacing both
  validate-config         check the config file and print the effective values (secrets hidden)

Options:
  -c, --config FILE       config file (default: $MRR_CONFIG or config/config.yaml)
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      output: { type: 'string', short: 'o' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const configPath = values.config ?? process.env.MRR_CONFIG ?? 'config/config.yaml';
  const config = loadConfig(existsSync(configPath) || values.config ? configPath : undefined);

  switch (command) {
    case 'generate-registration': {
      const output = values.output ?? config.appservice.registrationFile;
      if (existsSync(output) && !values.force) {
        throw new ConfigError('appservice.registrationFile', `${output} exists; pass --force to replace its tokens`);
      }
      writeFileSync(output, registrationYaml(buildRegistration(config)), { mode: 0o600 });
      process.stdout.write(`Wrote ${output}. Add it to the homeserver's app_service_config_files and restart it.\n`);
      return 0;
    }
    case 'generate-cross-signing': {
      const output = values.output ?? config.encryption.crossSigningKeysFile;
      if (!output) throw new ConfigError('encryption.crossSigningKeysFile', 'not set; set it or pass --output FILE');
      const { as_token } = loadRegistration(config.appservice.registrationFile);
      const userId = (localpart: string) => `@${localpart}:${config.homeserver.domain}`;
      const userIds = [userId(config.bot.localpart), userId(callUserLocalpart(config.bot.localpart))];
      // The printed story says what happened; info log lines would only repeat it.
      const log = createLogger({ ...config.logging, level: 'warn', redactPaths: secretConfigPaths() });
      const say = (line: string) => process.stdout.write(`${line}\n`);
      try {
        await generateCrossSigning({ homeserverUrl: config.homeserver.url, asToken: as_token, userIds, output, force: values.force }, say, log);
      } catch (err) {
        if (!(err instanceof RecorderError) || err instanceof ConfigError) throw err;
        process.stderr.write(`generate-cross-signing: ${err.message}\n`);
        return 1;
      }
      return 0;
    }
    case 'validate-config': {
      const shown = structuredClone(config) as Record<string, Record<string, unknown>>;
      for (const path of secretConfigPaths()) {
        const [section, key] = path.split('.') as [string, string];
        if (shown[section]?.[key] !== undefined) shown[section][key] = '[secret]';
      }
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      return 0;
    }
    case 'bridge':
    case 'worker':
    case 'all': {
      const log = createLogger({ ...config.logging, redactPaths: secretConfigPaths() });
      await runProcess(command as Role, config, log);
      return 0;
    }
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  // Exit explicitly: after an orderly shutdown, native handles of @livekit/rtc-node and
  // matrix-js-sdk timers of ended sessions would otherwise keep the process alive.
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof ConfigError ? `Configuration error: ${err.message}` : String((err as Error)?.stack ?? err);
    process.stderr.write(`${message}\n`);
    process.exit(err instanceof ConfigError ? 78 : 1);
  },
);
