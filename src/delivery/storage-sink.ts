// Where finished recordings are archived. A sink takes the session's files and returns where
// each one went; the local directory is one implementation, S3-compatible storage
// (s3-sink.ts) another behind the same interface.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { ConfigError } from '../errors.ts';
import { safeFileLabel } from '../media/recording/file-names.ts';

export interface SessionFacts {
  roomId: string;
  sessionId: string;
  startedAt: number;
}

/** A file to archive and its name below the session's folder (`segment-0/mixed.ogg`, `manifest.json`). */
export interface SinkFile {
  path: string;
  name: string;
}

export interface StoredFile {
  source: string;
  /** Where the copy lives: a path for a directory sink, a URL for object stores. */
  location: string;
}

export interface StorageSink {
  readonly name: string;
  /** Where a session's folder is, for the room's summary (a path, or `s3://bucket/prefix`). */
  folder(facts: SessionFacts): string;
  store(files: SinkFile[], facts: SessionFacts): Promise<StoredFile[]>;
}

/** A name below the session's folder: relative, made of file-name-safe segments. */
export function checkFileName(name: string): string {
  const parts = name.split('/');
  if (parts.some((p) => p === '' || p !== safeFileLabel(p))) throw new Error(`not a safe archive name: ${JSON.stringify(name)}`);
  return name;
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

  folder(facts: SessionFacts): string {
    const dir = join(this.#root, renderPathTemplate(this.#template, facts));
    if (!dir.startsWith(this.#root + sep)) throw new Error(`refusing to store outside ${this.#root}: ${dir}`);
    return dir;
  }

  async store(files: SinkFile[], facts: SessionFacts): Promise<StoredFile[]> {
    const dir = this.folder(facts);
    const stored: StoredFile[] = [];
    for (const file of files) {
      const target = join(dir, checkFileName(file.name));
      await mkdir(dirname(target), { recursive: true });
      await copyFile(file.path, target);
      stored.push({ source: file.path, location: target });
    }
    return stored;
  }
}

/** Every configured sink in turn: a file is archived when each of them has it. */
export class SinkSet implements StorageSink {
  readonly name: string;
  readonly #sinks: StorageSink[];

  constructor(sinks: StorageSink[]) {
    this.#sinks = sinks;
    this.name = sinks.map((s) => s.name).join('+');
  }

  folder(facts: SessionFacts): string {
    return this.#sinks.map((s) => s.folder(facts)).join(' and ');
  }

  /** Tries every sink; when one fails, the error names it and carries what the others stored. */
  async store(files: SinkFile[], facts: SessionFacts): Promise<StoredFile[]> {
    const stored: StoredFile[] = [];
    const failed: string[] = [];
    for (const sink of this.#sinks) {
      try {
        stored.push(...(await sink.store(files, facts)));
      } catch (err) {
        failed.push(`${sink.name}: ${(err as Error).message}`);
      }
    }
    if (failed.length > 0) throw new PartlyStoredError(`${failed.join('; ')}${stored.length > 0 ? ` (stored in ${this.#sinks.length - failed.length} of ${this.#sinks.length} sinks)` : ''}`, stored);
    return stored;
  }
}

export class PartlyStoredError extends Error {
  readonly stored: StoredFile[];
  constructor(message: string, stored: StoredFile[]) {
    super(message);
    this.name = 'PartlyStoredError';
    this.stored = stored;
  }
}
