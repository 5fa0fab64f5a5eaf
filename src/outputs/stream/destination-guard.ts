// Where a stream URL typed in a room may point. A member with the power to `!stream` chooses the
// host ffmpeg connects to, so without this check anyone allowed to stream could make the worker
// open connections into the operator's network (an internal RTMP or SRT service, a metadata
// endpoint). Configured destinations are the operator's own choice and are not checked.
import { HostAllowList, RefusedTargetError, type Resolver } from '../../rtc/authorizer-guard.ts';
import { DestinationError, type Destination } from './destination.ts';

export class TypedDestinationGuard {
  readonly #list: HostAllowList;

  /** `allowedHosts`: `streaming.allowedHosts` (`host`, `host:port`, `*` for any public host). */
  constructor(allowedHosts: readonly string[], resolve?: Resolver) {
    this.#list = new HostAllowList(allowedHosts, resolve);
  }

  /**
   * Throws a DestinationError the room may read (it names no address the name resolved to) unless
   * the typed destination's host is allowed. HLS writes below the configured directory: nothing to check.
   */
  async admit(destination: Destination): Promise<void> {
    if (destination.kind === 'hls') return;
    // The printable form has the host and port but no secrets; the scheme's default port applies.
    const url = new URL(destination.printable.replace(/\?.*$/, ''));
    try {
      await this.#list.admit(url);
    } catch (err) {
      if (!(err instanceof RefusedTargetError)) throw err;
      throw new DestinationError(REFUSALS[err.reason](destination.printable));
    }
  }
}

const REFUSALS: Record<RefusedTargetError['reason'], (where: string) => string> = {
  'not-listed': (where) => `I do not stream to ${where}: my operator allows typed destinations only on listed hosts (streaming.allowedHosts). Ask for a named destination.`,
  'private-address': (where) =>
    `I do not stream to ${where}: its host is in a private network (or does not resolve), which I reach only when my operator lists it (streaming.allowedHosts).`,
  'bad-url': (where) => `I do not stream to ${where}: its host name does not resolve.`,
};
