// Generates docs/configuration.md, config/config.sample.yaml and registration.yaml.example from
// the config schema. `--check` fails when a committed file differs (run by the unit tests).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.ts';
import { buildRegistration, registrationYaml } from '../src/config/registration.ts';
import { schemaKeys, type SchemaKey } from '../src/config/schema-keys.ts';
import { buildCommands } from '../src/app.ts';
import { usageLine } from '../src/matrix/commands/registry.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

const bySection = () => {
  const sections = new Map<string, SchemaKey[]>();
  for (const key of schemaKeys()) sections.set(key.section, [...(sections.get(key.section) ?? []), key]);
  return sections;
};

const cell = (value: unknown) => (value === undefined ? '—' : `\`${JSON.stringify(value)}\``);

export function configurationMarkdown(): string {
  const out = [
    '# Configuration',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs`. Do not edit by hand. -->',
    '',
    'matrixrtc-recorder reads one YAML file (`--config`, `$MRR_CONFIG`, or `config/config.yaml`).',
    'Every key is validated at start: an unknown key or a wrong value stops the start with an error',
    'naming the key. A commented sample is in `config/config.sample.yaml`.',
    '',
    '**Environment overrides.** `MRR_<SECTION>__<KEY>=value` sets one key (case-insensitive,',
    'underscores ignored: `MRR_APPSERVICE__BIND_ADDRESS` sets `appservice.bindAddress`). Add `_FILE`',
    'to read the value from a file, for container secrets: `MRR_REDIS__URL_FILE=/run/secrets/redis`.',
    '',
    'Keys marked **secret** are never logged.',
  ];
  for (const [section, keys] of bySection()) {
    out.push('', `## \`${section}\``, '', keys[0]!.sectionDescription, '', '| Key | Type | Default | Description |', '| --- | --- | --- | --- |');
    for (const k of keys) {
      const flags = [k.required ? '**required**' : '', k.secret ? '**secret**' : ''].filter(Boolean).join(', ');
      const example = k.example === undefined ? '' : ` Example: ${cell(k.example)}.`;
      out.push(`| \`${k.path}\` | ${k.type} | ${k.required ? '—' : cell(k.default)} | ${flags ? flags + '. ' : ''}${k.description}${example} |`);
    }
  }
  return `${out.join('\n')}\n`;
}

export function sampleConfigYaml(): string {
  const out = ['# matrixrtc-recorder configuration sample (generated from src/config/schema.ts).', '# Every key is documented in docs/configuration.md. Required keys are uncommented.', ''];
  for (const [section, keys] of bySection()) {
    // A section whose keys all have defaults is commented out as a whole (an empty mapping is invalid).
    const open = keys.some((k) => k.required);
    out.push(`# ${keys[0]!.sectionDescription}`, `${open ? '' : '# '}${section}:`);
    for (const k of keys) {
      const indent = open ? '  ' : '#   ';
      out.push(`${indent}# ${k.description}`);
      const value = k.required || k.default === undefined ? k.example : k.default;
      const lines = stringify({ [k.path.split('.')[1]!]: value }).trimEnd().split('\n');
      for (const l of lines) out.push(`${indent}${open && !k.required ? '# ' : ''}${l}`);
    }
    out.push('');
  }
  return out.join('\n');
}

export function registrationExample(): string {
  const config = parseConfig({ homeserver: { url: 'https://matrix.example.org', domain: 'example.org' } });
  return registrationYaml(buildRegistration(config, { as: '<generated: 64 hex characters>', hs: '<generated: 64 hex characters>' }));
}

export function commandsMarkdown(): string {
  const config = parseConfig({ homeserver: { url: 'https://matrix.example.org', domain: 'example.org' } });
  const unused = async () => {
    throw new Error('not used for documentation');
  };
  const registry = buildCommands(config, { start: unused, stop: unused, status: unused, addOutput: unused, removeOutputs: unused, outputs: unused, controlState: unused, appendControl: unused, consentMode: unused, setConsentMode: unused }, 'docs-token');
  const out = [
    '# Commands',
    '',
    '<!-- Generated from the command registry by `npm run docs`. Do not edit by hand. -->',
    '',
    'Type these in a room the bot has joined (invite it first). Commands marked *privileged* need',
    `the power level \`permissions.minPowerLevel\` (default ${config.permissions.minPowerLevel}); every user must also be on`,
    "`permissions.allow` (unset: the homeserver's own users). Edits of a command message are ignored, and so are",
    "`m.notice` messages (what bots send). An unknown command gets a short hint only when its sender is on",
    '`permissions.allow`, so other bots get nothing to answer back to. Each user and each room may send a burst of',
    'commands and then a steady rate (`limits.*`); beyond it commands are ignored and the sender is told once a minute.',
    '',
    '| Command | Privileged | What it does |',
    '| --- | --- | --- |',
  ];
  for (const c of registry.list()) out.push(`| \`${usageLine(c).replace(/\|/g, "\\|")}\` | ${c.privileged ? 'yes' : 'no'} | ${c.description} |`);
  return `${out.join('\n')}\n`;
}

export const generatedFiles = (): Record<string, string> => ({
  'docs/commands.md': commandsMarkdown(),
  'docs/configuration.md': configurationMarkdown(),
  'config/config.sample.yaml': sampleConfigYaml(),
  'registration.yaml.example': registrationExample(),
});

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, text] of Object.entries(generatedFiles())) {
    const path = `${root}${file}`;
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {}
    if (current === text) continue;
    if (check) {
      console.error(`${file} is out of date: run npm run docs`);
      stale++;
    } else {
      writeFileSync(path, text);
      console.log(`wrote ${file}`);
    }
  }
  process.exit(stale ? 1 : 0);
}
