// Where finished recordings are archived. A sink takes the session's files and returns where
// each one went; the local directory is one implementation, S3-compatible storage would be
// another behind the same interface.
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { ConfigError } from '../errors.ts';
import { safeFileLabel } from '../media/recording/file-names.ts';

export interface SessionFacts {
  roomId: string;
  sessionId: string;
  startedAt: number;
}

export interface StoredFile {
  source: string;
  /** Where the copy lives: a path for a directory sink, a URL for object stores. */
  location: string;
}

export interface StorageSink {
  readonly name: string;
  store(files: string[], facts: SessionFacts): Promise<StoredFile[]>;
}

const PLACEHOLDERS = ['room', 'session', 'date', 'time', 'year', 'month', 'day'] as const;

/** Checks a path template once, at configuration time. */
export function validatePathTemplate(template: string): void {
  if (template.startsWith('/') || template.split('/').some((part) => part === '..' || part === '.')) {
    throw new ConfigError('storage.pathTemplate', 'must be a relative path without "." or ".." segments');
  }
  for (const [, name] of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(name!)) {
      throw new ConfigError('storage.pathTemplate', `unknown placeholder {${name}}; known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`);
    }
  }
}

/** Renders the template; every value is made file-name safe, so no value can add a path segment. */
export function renderPathTemplate(template: string, facts: SessionFacts): string {
  const start = new Date(facts.startedAt).toISOString(); // UTC: the same path whichever worker renders it
  const values: Record<(typeof PLACEHOLDERS)[number], string> = {
    room: facts.roomId,
    session: facts.sessionId,
    date: start.slice(0, 10),
    time: start.slice(11, 19).replaceAll(':', ''),
    year: start.slice(0, 4),
    month: start.slice(5, 7),
    day: start.slice(8, 10),
  };
  return template
    .split('/')
    .map((segment) => safeFileLabel(segment.replace(/\{(\w+)\}/g, (_, name: (typeof PLACEHOLDERS)[number]) => values[name])))
    .join('/');
}

export class LocalDirectorySink implements StorageSink {
  readonly name = 'directory';
  readonly #root: string;
  readonly #template: string;

  constructor(root: string, template: string) {
    validatePathTemplate(template);
    this.#root = resolve(root);
    this.#template = template;
  }

  async store(files: string[], facts: SessionFacts): Promise<StoredFile[]> {
    const dir = join(this.#root, renderPathTemplate(this.#template, facts));
    if (!dir.startsWith(this.#root + sep)) throw new Error(`refusing to store outside ${this.#root}: ${dir}`);
    await mkdir(dir, { recursive: true });
    const stored: StoredFile[] = [];
    for (const file of files) {
      const target = join(dir, basename(file));
      await copyFile(file, target);
      stored.push({ source: file, location: target });
    }
    return stored;
  }
}
