import { z } from 'zod';
import { configSchema } from './schema.ts';

/** One documented leaf of the config schema. */
export interface SchemaKey {
  path: string;
  section: string;
  sectionDescription: string;
  type: string;
  description: string;
  default?: unknown;
  example?: unknown;
  secret: boolean;
  required: boolean;
}

interface JsonSchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  example?: unknown;
  secret?: boolean;
  enum?: unknown[];
  items?: JsonSchemaNode;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  minimum?: number;
  maximum?: number;
  format?: string;
  pattern?: string;
}

let cached: SchemaKey[] | undefined;

/** Every leaf key of the schema, in declaration order, with its documentation. */
export function schemaKeys(): SchemaKey[] {
  if (cached) return cached;
  const root = z.toJSONSchema(configSchema, { io: 'input' }) as JsonSchemaNode;
  const keys: SchemaKey[] = [];
  for (const [section, node] of Object.entries(root.properties ?? {})) {
    for (const [name, leaf] of Object.entries(node.properties ?? {})) {
      if (!leaf.description) throw new Error(`config key ${section}.${name} has no description`);
      keys.push({
        path: `${section}.${name}`,
        section,
        sectionDescription: node.description ?? '',
        type: describeType(leaf),
        description: leaf.description,
        default: leaf.default,
        example: leaf.example,
        secret: leaf.secret === true,
        required: (node.required ?? []).includes(name),
      });
    }
  }
  cached = keys;
  return keys;
}

function describeType(node: JsonSchemaNode): string {
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (node.type === 'array') return `list of ${describeType(node.items ?? {})}`;
  let type = Array.isArray(node.type) ? node.type.join(' | ') : (node.type ?? 'any');
  if (node.format === 'uri') type = 'URL';
  if (node.minimum !== undefined && node.maximum !== undefined) type += ` (${node.minimum}–${node.maximum})`;
  return type;
}

/** Dotted paths of secret keys, for log redaction. */
export function secretConfigPaths(): string[] {
  return schemaKeys().filter((k) => k.secret).map((k) => k.path);
}
