// The parts of the untyped `sip` package (kirm/sip.js 0.0.6) this folder uses.
declare module 'sip' {
  export interface SipUri {
    schema?: string;
    user?: string;
    password?: string;
    host: string;
    port?: number;
    params?: Record<string, string | null>;
    headers?: Record<string, string>;
  }
  export interface NameAddr {
    name?: string;
    uri: string | SipUri;
    params?: Record<string, string | null | undefined>;
  }
  export interface SipMessage {
    method?: string;
    uri?: string | SipUri;
    status?: number;
    reason?: string;
    version?: string;
    headers: {
      via?: { host?: string; port?: number; protocol?: string; params: Record<string, string | null | undefined> }[];
      to?: NameAddr;
      from?: NameAddr;
      'call-id'?: string;
      cseq?: { seq: number; method: string };
      contact?: NameAddr[] | '*';
      route?: NameAddr[];
      'record-route'?: NameAddr[];
      'content-type'?: string;
      [name: string]: unknown;
    };
    content?: string;
  }
  export interface Remote {
    protocol: string;
    address: string;
    port: number;
    local?: { address: string; port: number };
  }
  export interface SipStack {
    send(m: SipMessage, callback?: (rs: SipMessage) => void): void;
    destroy(): void;
    hostname(): string;
  }
  export interface CreateOptions {
    address?: string;
    port?: number;
    publicAddress?: string;
    hostname?: string;
    udp?: boolean;
    tcp?: boolean;
    logger?: { error?: (e: unknown) => void; send?: (m: SipMessage, target: unknown) => void; recv?: (m: SipMessage, remote: Remote) => void };
  }
  export function create(options: CreateOptions, callback: (rq: SipMessage, remote: Remote) => void): SipStack;
  export function makeResponse(rq: SipMessage, status: number, reason?: string, extension?: { headers?: Record<string, unknown>; content?: string }): SipMessage;
  export function parseUri(s: string | SipUri): SipUri | undefined;
  export function stringifyUri(uri: string | SipUri): string;
  export function parse(data: string): SipMessage | undefined;
  export function stringify(m: SipMessage): string;
  export function generateBranch(): string;
  export interface Connection {
    send(m: SipMessage): void;
    release(): void;
    protocol: string;
  }
  export interface Transport {
    open(target: Remote | { protocol: string; address: string; port: number }, onError?: (e: unknown) => void): Connection;
    get(target: Remote, onError?: (e: unknown) => void): Connection;
    destroy(): void;
  }
  export interface ServerTransaction {
    send(m: SipMessage): void;
    message?(m: SipMessage, remote?: Remote): void;
  }
  export interface TransactionLayer {
    createServerTransaction(rq: SipMessage, cn: Connection): ServerTransaction;
    createClientTransaction(cn: Connection, rq: SipMessage, callback: (rs: SipMessage) => void): unknown;
    getServer(m: SipMessage): ServerTransaction | undefined;
    getClient(m: SipMessage): { message?(m: SipMessage, remote?: Remote): void } | undefined;
    destroy(): void;
  }
  export function makeTransport(options: CreateOptions, callback: (m: SipMessage, remote: Remote) => void): Transport;
  export function makeTransactionLayer(options: CreateOptions, open: Transport['open']): TransactionLayer;
  export function resolve(uri: SipUri, action: (addresses: { protocol: string; address: string; port: number }[]) => void): void;
  const sip: {
    makeTransport: typeof makeTransport;
    makeTransactionLayer: typeof makeTransactionLayer;
    resolve: typeof resolve;
    create: typeof create;
    makeResponse: typeof makeResponse;
    parseUri: typeof parseUri;
    stringifyUri: typeof stringifyUri;
    parse: typeof parse;
    stringify: typeof stringify;
    generateBranch: typeof generateBranch;
  };
  export default sip;
}

declare module 'sip/digest.js' {
  import type { SipMessage } from 'sip';
  export interface DigestContext {
    [key: string]: unknown;
  }
  export function signRequest(ctx: DigestContext | null | undefined, rq: SipMessage, rs?: SipMessage, creds?: { user: string; password: string; realm?: string }): DigestContext | null;
  export function challenge(ctx: DigestContext, rs: SipMessage): SipMessage;
  export function authenticateRequest(ctx: DigestContext, rq: SipMessage, creds: { user: string; password: string }): boolean;
  const digest: { signRequest: typeof signRequest; challenge: typeof challenge; authenticateRequest: typeof authenticateRequest };
  export default digest;
}
